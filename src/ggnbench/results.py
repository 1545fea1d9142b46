"""Run folders: atomic writes and reads of ``metrics.csv`` and ``run.json``.

A run folder holds ``metrics.csv`` (tidy rows) and ``run.json`` (configuration,
status, summary, provenance). ``run.json`` is written last, by rename, so a folder
with a ``run.json`` is always complete and an interrupted run leaves none.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ggnbench.errors import GGNBenchError

METRICS = "metrics.csv"
RUN_JSON = "run.json"
METRIC_COLUMNS = ["step", "split", "loss", "accuracy", "time_s"]

#: RunConfig fields that do not change a run's result and are left out of comparisons.
NON_RESULT_KEYS = frozenset({"threads", "download", "data_root"})


def result_config(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a run configuration that determines its result.

    Args:
        config: RunConfig fields.

    Returns:
        The fields without :data:`NON_RESULT_KEYS`.
    """
    return {k: v for k, v in config.items() if k not in NON_RESULT_KEYS}


def mismatch(expected: dict[str, Any], found: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields where a run's saved configuration differs from the expected one.

    Args:
        expected: RunConfig fields the study asks for.
        found: RunConfig fields saved in ``run.json``.

    Returns:
        Field name to (expected, found), for result-relevant fields only.
    """
    exp, got = result_config(expected), result_config(found)
    keys = set(exp) | set(got)
    return {k: (exp.get(k), got.get(k)) for k in sorted(keys) if exp.get(k) != got.get(k)}


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a file through a temporary sibling and a rename.

    Args:
        path: Destination.
        text: Content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically.

    Args:
        path: Destination.
        obj: JSON-serializable object.
    """
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def prepare_run_dir(out: str | Path) -> Path:
    """Create the run folder, check that it is writable, and remove a stale ``run.json``.

    Args:
        out: Run folder.

    Returns:
        The folder as a path.

    Raises:
        GGNBenchError: If the folder cannot be created or written.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test."):
            pass
        (out / RUN_JSON).unlink(missing_ok=True)
    except OSError as err:
        raise GGNBenchError(
            f"cannot write to output folder {out}: {err.strerror}; choose a writable --out"
        ) from err
    return out


def write_run(out: str | Path, records: list[dict[str, Any]], info: dict[str, Any]) -> None:
    """Write ``metrics.csv`` then ``run.json``, each atomically.

    Args:
        out: Run folder (see :func:`prepare_run_dir`).
        records: Tidy metric rows.
        info: Content of ``run.json``.
    """
    out = Path(out)
    frame = pd.DataFrame.from_records(records, columns=METRIC_COLUMNS)
    atomic_write_text(out / METRICS, frame.to_csv(index=False))
    atomic_write_json(out / RUN_JSON, info)


def read_json(path: str | Path, missing: str = "rerun the workflow") -> Any:
    """Read a JSON file that an earlier step wrote (manifest, best.json, run.json).

    Args:
        path: The file.
        missing: The fix to name when the file is absent.

    Returns:
        The parsed content.

    Raises:
        GGNBenchError: If it is missing or not valid JSON.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as err:
        raise GGNBenchError(f"{path} is missing; {missing}") from err
    except json.JSONDecodeError as err:
        raise GGNBenchError(f"{path} is not valid JSON ({err.msg}); delete it and rerun") from err


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    """Read the ``run.json`` of a run folder.

    Args:
        run_dir: Run folder.

    Returns:
        The parsed content.

    Raises:
        GGNBenchError: If it is missing (the run did not finish) or not valid JSON.
    """
    return read_json(Path(run_dir) / RUN_JSON, "the run did not finish; rerun it")


def read_metrics(run_dir: str | Path) -> pd.DataFrame:
    """Read a run's ``metrics.csv``.

    Args:
        run_dir: Run folder.

    Returns:
        The tidy metrics.
    """
    return pd.read_csv(Path(run_dir) / METRICS)
