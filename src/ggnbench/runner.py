"""Glue between one run and its folder: train, then write results with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ggnbench import provenance, results
from ggnbench.train import Progress, RunConfig, run


def train_to_folder(
    cfg: RunConfig, out: str | Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Run one configuration and write ``metrics.csv`` and ``run.json`` into ``out``.

    The folder is checked for writability before training starts, and a stale
    ``run.json`` is removed, so an interrupted run leaves no ``run.json``.

    Args:
        cfg: The run's configuration.
        out: Run folder.
        progress: Progress callback.

    Returns:
        The content written to ``run.json``.
    """
    cfg.validate()
    out = results.prepare_run_dir(out)
    result = run(cfg, progress=progress)
    info = {
        "config": cfg.to_dict(),
        "resolved": result.resolved,
        "status": result.status,
        "diverged_at": result.diverged_at,
        "summary": result.summary,
        "provenance": provenance.collect(result.resolved["device"]),
    }
    results.write_run(out, result.records, info)
    return info
