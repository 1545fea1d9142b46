"""Run a list of planned runs in one process, skipping those already finished.

One workflow job runs one chunk of runs (``chunk_size`` in the config): one run
per job suits a cluster; larger chunks spare a laptop the start-up of a Python
process per run. A finished run (its ``run.json`` present, with the same
configuration) is never redone, so an interrupted job reruns only what is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ggnbench import results, runner
from ggnbench.results import mismatch
from ggnbench.train import RunConfig


def apply_best(config: dict[str, Any], best: dict[str, Any]) -> dict[str, Any] | None:
    """Fill a final run's learning rate and damping from a ``best.json``.

    Args:
        config: RunConfig fields with ``lr`` unset.
        best: Content of ``best.json``.

    Returns:
        The completed fields, or None when no grid point was usable.
    """
    choice = best.get("best")
    if choice is None:
        return None
    return {**config, "lr": choice["lr"], "damping": choice.get("damping")}


def finished(out: str | Path, config: dict[str, Any]) -> bool:
    """Whether a run folder already holds this run's complete result.

    Args:
        out: Run folder.
        config: RunConfig fields.

    Returns:
        True if the folder holds an intact run (see :func:`~ggnbench.results.run_damage`)
        whose configuration matches ``config``.
    """
    if results.run_damage(out) is not None:
        return False
    return not mismatch(config, results.read_run_json(out)["config"])


def sweep(planned: list[dict[str, Any]], manifest: str | Path, best: str | Path | None) -> None:
    """Run every planned run that is not finished, then write the chunk's manifest.

    Args:
        planned: Dicts with ``out`` and ``config`` (see :mod:`ggnbench.study`).
        manifest: Where to write the list of runs with their status.
        best: ``best.json`` that fills lr and damping (final runs), or None.
    """
    choice = results.read_json(best) if best is not None else None
    entries = []
    for i, item in enumerate(planned, 1):
        config = dict(item["config"])
        if choice is not None:
            config = apply_best(config, choice)
            if config is None:
                entries.append({**item, "status": "no_best"})
                print(f"[{i}/{len(planned)}] {item['out']}: every grid point diverged; skipped")
                continue
        label = f"[{i}/{len(planned)}] {item['out']}"
        if finished(item["out"], config):
            status = results.read_run_json(item["out"])["status"]
            print(f"{label}: already finished ({status})", flush=True)
        else:
            print(f"{label}: training", flush=True)
            run_config = RunConfig(**config)
            status = runner.train_to_folder(run_config, item["out"], overwrite=True)["status"]
            print(f"{label}: {status}", flush=True)
        entries.append({**item, "config": config, "status": status})
    results.atomic_write_json(manifest, {"runs": entries})
    sys.stdout.flush()
