"""Glue between one run and its folder: train, then write results with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ggnbench import provenance, results
from ggnbench.errors import GGNBenchError
from ggnbench.train import Progress, RunConfig, run


def train_to_folder(
    cfg: RunConfig, out: str | Path, progress: Progress | None = None, overwrite: bool = False
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
        "summary": result.summary,
        "provenance": provenance.collect(result.resolved["device"]),
    }
    results.write_run(out, result.records, info)
    return info
