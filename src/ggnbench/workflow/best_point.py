"""Choose the best grid point per (problem, optimizer, device) from tuning runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ggnbench.run import results

#: The summary field that ranks grid points (higher is better), and the tie-breaker.
METRIC = "final_valid_accuracy"
TIE_BREAK = "final_valid_loss"


def point_of(config: dict[str, Any]) -> dict[str, Any]:
    """The grid point of a run whose manifest entry does not list it (older manifests).

    Args:
        config: The run's RunConfig fields.

    Returns:
        ``lr``, and ``damping`` where set.
    """
    point = {"lr": config["lr"], "damping": config["hparams"].get("damping")}
    return {k: v for k, v in point.items() if v is not None}


def select_best(manifests: list[str | Path]) -> dict[str, Any]:
    """Rank the tuning runs by final validation accuracy, diverged runs excluded.

    Args:
        manifests: The tuning manifests of one (problem, optimizer, device).

    Returns:
        The content of ``best.json``: the best point, the runner-up, and counts.
    """
    entries = results.manifest_runs(manifests)
    ok = [e for e in entries if e["info"]["status"] == "ok"]
    ranked = sorted(
        ok, key=lambda e: (-e["info"]["summary"][METRIC], e["info"]["summary"][TIE_BREAK])
    )

    def describe(entry: dict[str, Any]) -> dict[str, Any]:
        summary = entry["info"]["summary"]
        config = entry["config"]
        return {
            "lr": config["lr"],
            "damping": config["hparams"].get("damping"),
            "point": entry.get("point") or point_of(config),
            "run": entry["out"],
            METRIC: summary[METRIC],
            TIE_BREAK: summary[TIE_BREAK],
        }

    first = entries[0]["config"] if entries else {}
    return {
        "problem": first.get("problem"),
        "optimizer": first.get("optimizer"),
        "device": first.get("device"),
        "metric": METRIC,
        "best": describe(ranked[0]) if ranked else None,
        "runner_up": describe(ranked[1]) if len(ranked) > 1 else None,
        "grid_points": len(entries),
        "diverged": len(entries) - len(ok),
    }
