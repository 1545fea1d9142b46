"""Execute runs: one run into its folder, and a list of planned runs in one process.

:func:`train_to_folder` trains one configuration and writes its folder (``ggnbench
train``); :func:`sweep` runs a list of them, skipping those already finished. One
workflow job runs one chunk of runs (``chunk_size`` in the config): one run
per job suits a cluster; larger chunks spare a laptop the start-up of a Python
process per run. A finished run (its ``run.json`` present, with the same
configuration) is never redone, so an interrupted job reruns only what is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ggnbench import provenance
from ggnbench.errors import GGNBenchError
from ggnbench.progress import Progress
from ggnbench.run import results
from ggnbench.run.config import RunConfig
from ggnbench.run.outcome import numerical_note
from ggnbench.run.results import mismatch
from ggnbench.run.train import StepCallback, run
from ggnbench.workflow import paths
from ggnbench.workflow.best_point import point_of


def train_to_folder(
    cfg: RunConfig, out: str | Path, progress: StepCallback | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Run one configuration and write ``metrics.csv`` and ``run.json`` into ``out``.

    The folder is checked for writability before training starts, and a stale
    ``run.json`` is removed, so an interrupted run leaves no ``run.json``.

    Args:
        cfg: The run's configuration.
        out: Run folder.
        progress: Progress callback.
        overwrite: Replace a finished run with a different configuration.

    Returns:
        The content written to ``run.json``.

    Raises:
        GGNBenchError: If ``out`` holds a finished run with another configuration
            and ``overwrite`` is False.
    """
    cfg.validate()
    if not overwrite and results.run_damage(out) is None:
        diff = results.mismatch(cfg.to_dict(), results.read_run_json(out)["config"])
        if diff:
            shown = ", ".join(f"{k} {b!r} (now {a!r})" for k, (a, b) in diff.items())
            raise GGNBenchError(
                f"{out} holds a finished run with another configuration ({shown}); "
                "pass --overwrite to replace it, or choose another --out"
            )
    out = results.prepare_run_dir(out)
    result = run(cfg, progress=progress)
    info = {
        "config": cfg.to_dict(),
        "resolved": result.resolved,
        "status": result.status,
        "diverged_at": result.diverged_at,
        "failure": result.failure,
        "summary": result.summary,
        "provenance": provenance.collect(result.resolved["device"]),
    }
    results.write_run(out, result.records, info)
    return info


def chosen_point(best: dict[str, Any]) -> dict[str, Any] | None:
    """The grid point a ``best.json`` chose.

    Args:
        best: Content of ``best.json``.

    Returns:
        ``lr`` and the other axes (``damping``, ...), or None when no point was usable.
    """
    choice = best.get("best")
    if choice is None:
        return None
    return dict(choice.get("point") or point_of(choice))  # best.json of older versions: no point


def apply_best(config: dict[str, Any], best: dict[str, Any]) -> dict[str, Any] | None:
    """Fill a final run's grid point (learning rate, damping, ...) from a ``best.json``.

    Args:
        config: RunConfig fields with ``lr`` unset.
        best: Content of ``best.json``.

    Returns:
        The completed fields, or None when no grid point was usable.
    """
    point = chosen_point(best)
    if point is None:
        return None
    rest = {k: v for k, v in point.items() if k != "lr"}
    return {**config, "lr": point["lr"], "hparams": {**config["hparams"], **rest}}


def finished(out: str | Path, config: dict[str, Any]) -> bool:
    """Whether a run folder already holds this run's complete result.

    Args:
        out: Run folder.
        config: RunConfig fields.

    Returns:
        True if the folder holds an intact run (see :func:`~ggnbench.run.results.run_damage`)
        whose configuration matches ``config``.
    """
    if results.run_damage(out) is not None:
        return False
    return not mismatch(config, results.read_run_json(out)["config"])


def sweep(planned: list[dict[str, Any]], manifest: str | Path, best: str | Path | None) -> None:
    """Run every planned run that is not finished, then write the chunk's manifest.

    Args:
        planned: Dicts with ``out`` and ``config`` (see :mod:`ggnbench.workflow.study`).
        manifest: Where to write the list of runs with their status.
        best: ``best.json`` that fills the grid point (final runs), or None.
    """
    choice = results.read_json(best) if best is not None else None
    entries = []
    for i, item in enumerate(planned, 1):
        item = dict(item)
        config = dict(item["config"])
        if choice is not None:  # a final run: its point, and the folder that names it
            config = apply_best(config, choice)
            if config is None:
                entries.append({**item, "status": "no_best"})
                print(f"[{i}/{len(planned)}] {item['out']}: every grid point diverged; skipped")
                continue
            item["point"] = chosen_point(choice)
            item["out"] = paths.chosen_dir(item["out"], item["point"])
        label = f"[{i}/{len(planned)}] {item['out']}"
        if finished(item["out"], config):
            status = results.read_run_json(item["out"])["status"]
            print(f"{label}: already finished ({status})", flush=True)
        else:
            print(f"{label}: training", flush=True)
            run_config = RunConfig(**config)
            progress = Progress(label, total=0)
            try:
                info = train_to_folder(run_config, item["out"], progress.step, overwrite=True)
            finally:
                progress.close()
            status = info["status"]
            print(f"{label}: {status}", flush=True)
            for line in (info.get("failure"), numerical_note(info["summary"])):
                if line:
                    print(f"{label}: {line}", flush=True)
        entries.append({**item, "config": config, "status": status})
    results.atomic_write_json(manifest, {"runs": entries})
    sys.stdout.flush()
