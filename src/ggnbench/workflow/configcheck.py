"""Check a study configuration before anything runs, with a one-line verdict."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jsonschema
import yaml

FIX = "fix it in the config file (keys, types and allowed values: {schema})"


def yaml_error(path: str | Path) -> str | None:
    """Describe a configuration file that cannot be read as YAML, in one line.

    Args:
        path: The configuration file.

    Returns:
        None if the file parses, else one line naming the file, the line and the problem.
    """
    path = Path(path)
    try:
        yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return f"error: config file {path} does not exist; check the path given to --configfile"
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        return f"error: {where}: not valid YAML ({problem}); fix the syntax there"
    return None


def non_finite(value: Any, key: str = "") -> str | None:
    """The key of the first infinite or NaN number in a configuration, if any.

    JSON Schema cannot reject NaN (every comparison with it is false), so this check
    runs before schema validation.

    Args:
        value: A configuration or part of one.
        key: The key of ``value`` (slash-separated), for the message.

    Returns:
        The key, or None when every number is finite.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return key or "(top level)"
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        children = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        children = [(str(i), v) for i, v in enumerate(value)]
    for child_key, child in children:
        found = non_finite(child, f"{key}/{child_key}" if key else child_key)
        if found is not None:
            return found
    return None


def config_error(config: dict[str, Any], schema_path: str | Path) -> str | None:
    """Validate a configuration and describe the most relevant error in one line.

    Args:
        config: The configuration (defaults not yet filled in).
        schema_path: The JSON schema, as YAML.

    Returns:
        None if valid, else one line naming the key, the problem and the fix.
    """
    fix = FIX.format(schema=schema_path)
    if (key := non_finite(config)) is not None:
        return f"error: invalid config at '{key}': numbers must be finite (no inf or nan); {fix}"
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return None
    key = "/".join(str(part) for part in error.absolute_path) or "(top level)"
    message = " ".join(error.message.split())
    if len(message) > 240:
        message = message[:237] + "..."
    return f"error: invalid config at '{key}': {message}; {fix}"


def check_file(path: str | Path, schema_path: str | Path) -> str | None:
    """Check one configuration file: YAML syntax, then the schema.

    Args:
        path: The configuration file.
        schema_path: The JSON schema, as YAML.

    Returns:
        None if valid, else one line naming the problem.
    """
    if (problem := yaml_error(path)) is not None:
        return problem
    config = yaml.safe_load(Path(path).read_text())
    if not isinstance(config, dict):
        return f"error: {path} does not hold a mapping of config keys; see {schema_path}"
    return config_error(config, schema_path)


def plan_error(path: str | Path, schema_path: str | Path) -> str | None:
    """Check what the schema cannot: the plan, including every optimizer class's import.

    Fills in the schema's defaults as the workflow does (Snakemake's ``validate``), then
    runs :func:`ggnbench.workflow.plan_check.check_plan`. Call it on a file that :func:`check_file`
    accepted.

    Args:
        path: The configuration file.
        schema_path: The JSON schema, as YAML.

    Returns:
        None if the plan is sound, else one line naming the problem.
    """
    from snakemake.utils import validate

    from ggnbench.errors import GGNBenchError
    from ggnbench.workflow import plan_check

    config = yaml.safe_load(Path(path).read_text())
    validate(config, str(schema_path), set_default=True)
    try:
        plan_check.check_plan(config)
    except GGNBenchError as err:
        return f"error: {path}: {err}"
    return None


def load_study(path: str | Path, schema_path: str | Path) -> dict[str, Any]:
    """A study configuration file, checked, with the schema's defaults filled in.

    Args:
        path: The configuration file.
        schema_path: The JSON schema, as YAML.

    Returns:
        The configuration, as the workflow sees it.

    Raises:
        GGNBenchError: Naming the file and the problem.
    """
    from snakemake.utils import validate

    from ggnbench.errors import GGNBenchError

    if not Path(path).is_file():
        raise GGNBenchError(f"no config file {path}; give the path of a study config")
    problem = check_file(path, schema_path) or plan_error(path, schema_path)
    if problem is not None:
        raise GGNBenchError(problem.removeprefix("error: "))
    config = yaml.safe_load(Path(path).read_text())
    validate(config, str(schema_path), set_default=True)
    return config
