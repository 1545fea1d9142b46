"""Run folders: atomic writes and reads of ``metrics.csv`` and ``run.json``.

A run folder holds ``metrics.csv`` (tidy rows) and ``run.json`` (configuration,
status, summary, provenance). ``run.json`` is written last, by rename, so a folder
with a ``run.json`` is always complete and an interrupted run leaves none.
"""

from __future__ import annotations

import hashlib
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

#: RunConfig fields that do not change a run's result and are left out of comparisons:
#: the data and evaluation paths give the same training bitwise and the same metrics
#: within float32 rounding (:mod:`ggnbench.workload.tensordata`,
#: :func:`ggnbench.workload.evaluation.evaluate`).
NON_RESULT_KEYS = frozenset({"threads", "download", "data_root", "data_path", "eval_path"})


#: The hyperparameters that run configurations written before ``hparams`` held every
#: optimizer's kept as fields of their own (a record of that format, not a registry).
LEGACY_HYPERPARAMETERS = (
    "damping", "momentum", "curvature_average", "curvature_beta", "backend",
    "shared_factors", "inverse_every",
)  # fmt: skip


def current_config(config: dict[str, Any]) -> dict[str, Any]:
    """A saved run configuration in the current format, whatever version wrote it.

    Configurations written before every hyperparameter moved into ``hparams`` kept the
    built-in optimizers' as fields of their own (None when not given) and ``hparams``
    None: those given move into ``hparams``.

    Args:
        config: RunConfig fields as saved in ``run.json`` or a manifest.

    Returns:
        The fields, ``hparams`` a mapping holding every hyperparameter besides ``lr``.
    """
    current = {k: v for k, v in config.items() if k not in LEGACY_HYPERPARAMETERS}
    legacy = {k: config[k] for k in LEGACY_HYPERPARAMETERS if config.get(k) is not None}
    current["hparams"] = {**legacy, **(config.get("hparams") or {})}
    return current


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


def _umask() -> int:
    """The process's file-creation mask (read by setting it and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a file through a temporary sibling and a rename.

    The file gets the mode a plain ``open(path, "w")`` would give it (0666 less the
    umask), not the private 0600 of a temporary file.

    Args:
        path: Destination.
        text: Content.

    Raises:
        OSError: If the file cannot be written (naming ``path``); no temporary file stays.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from err
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from err
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


def file_digest(text: str) -> dict[str, Any]:
    """Size and SHA-256 of a file's content, as recorded in ``run.json``.

    Args:
        text: The content.

    Returns:
        ``{"bytes": ..., "sha256": ...}``.
    """
    data = text.encode()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_run(out: str | Path, records: list[dict[str, Any]], info: dict[str, Any]) -> None:
    """Write ``metrics.csv`` then ``run.json`` (with the size and checksum of the metrics).

    Args:
        out: Run folder (see :func:`prepare_run_dir`).
        records: Tidy metric rows.
        info: Content of ``run.json``; a ``files`` entry is added.
    """
    out = Path(out)
    text = pd.DataFrame.from_records(records, columns=METRIC_COLUMNS).to_csv(index=False)
    atomic_write_text(out / METRICS, text)
    atomic_write_json(out / RUN_JSON, {**info, "files": {METRICS: file_digest(text)}})


def run_damage(run_dir: str | Path) -> str | None:
    """Why a run folder cannot be used, or None when it holds a complete, intact run.

    A run is damaged when ``run.json`` is missing or not valid JSON, or when
    ``metrics.csv`` is missing or differs in size or checksum from what ``run.json``
    recorded.

    Args:
        run_dir: Run folder.

    Returns:
        A short reason, or None.
    """
    run_dir = Path(run_dir)
    try:
        info = json.loads((run_dir / RUN_JSON).read_text())
    except FileNotFoundError:
        return f"{RUN_JSON} is missing"
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return f"{RUN_JSON} is not valid JSON"
    recorded = info.get("files", {}).get(METRICS) if isinstance(info, dict) else None
    if not isinstance(recorded, dict) or "config" not in info or "status" not in info:
        return f"{RUN_JSON} lacks its configuration, status or the checksum of {METRICS}"
    try:
        raw = (run_dir / METRICS).read_bytes()
    except FileNotFoundError:
        return f"{METRICS} is missing"
    found = {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    if found != recorded:
        return (
            f"{METRICS} differs from what {RUN_JSON} recorded "
            f"({found['bytes']} bytes, {recorded.get('bytes')} expected)"
        )
    return None


def read_json(path: str | Path, missing: str = "rerun the workflow") -> Any:
    """Read a JSON file that an earlier step wrote (manifest, best.json).

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
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GGNBenchError(
            f"{path} is damaged (not valid JSON); rerun the same command, which redoes it"
        ) from err


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    """Read the ``run.json`` of a run folder after checking the folder is intact.

    Args:
        run_dir: Run folder.

    Returns:
        The parsed content.

    Raises:
        GGNBenchError: If the run is incomplete or damaged (see :func:`run_damage`).
    """
    problem = run_damage(run_dir)
    if problem is not None:
        raise GGNBenchError(
            f"run {run_dir} is unusable ({problem}); rerun the same command, "
            "which redoes exactly the missing and damaged runs"
        )
    info = json.loads((Path(run_dir) / RUN_JSON).read_text())
    return {**info, "config": current_config(info["config"])}


def read_metrics(run_dir: str | Path) -> pd.DataFrame:
    """Read a run's ``metrics.csv``.

    Args:
        run_dir: Run folder.

    Returns:
        The tidy metrics.
    """
    return pd.read_csv(Path(run_dir) / METRICS)


def manifest_runs(paths: list[str | Path]) -> list[dict[str, Any]]:
    """Every run listed in chunk manifests, each with its ``run.json`` as ``info``.

    The one reader of manifests: selection and aggregation both use it.

    Args:
        paths: Manifest files.

    Returns:
        The manifests' entries in order; those of runs that ran (all but ``no_best``)
        carry the run's ``run.json`` as ``info``.

    Raises:
        GGNBenchError: If a listed run is missing or damaged, or ran with another
            configuration than its manifest lists.
    """
    entries = []
    for path in paths:
        for entry in read_json(path)["runs"]:
            entry = {**entry, "config": current_config(entry["config"])}
            if entry["status"] != "no_best":
                info = read_run_json(entry["out"])
                diff = mismatch(entry["config"], info["config"])
                if diff:
                    shown = ", ".join(
                        f"{k}: asked {a!r}, found {b!r}" for k, (a, b) in diff.items()
                    )
                    raise GGNBenchError(
                        f"run folder {entry['out']} does not match the study's configuration "
                        f"({shown}); delete the folder and rerun the workflow"
                    )
                entry = {**entry, "info": info}
            entries.append(entry)
    return entries
