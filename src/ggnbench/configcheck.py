"""Check a study configuration against its JSON schema with a one-line verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml


def config_error(config: dict[str, Any], schema_path: str | Path) -> str | None:
    """Validate a configuration and describe the most relevant error in one line.

    Args:
        config: The configuration (defaults not yet filled in).
        schema_path: The JSON schema, as YAML.

    Returns:
        None if valid, else one line naming the key, the problem and the fix.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return None
    key = "/".join(str(part) for part in error.absolute_path) or "(top level)"
    message = " ".join(error.message.split())
    if len(message) > 240:
        message = message[:237] + "..."
    return (
        f"error: invalid config at '{key}': {message}; fix it in the config file "
        f"(keys, types and allowed values: {schema_path})"
    )
