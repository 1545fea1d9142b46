"""Which of a study's result files a run checks before it plans its jobs, and the check.

Results that an interruption or later damage left unusable (a deleted or garbled
``run.json``, an edited ``metrics.csv``, a garbled manifest or ``best.json``, a damaged
measurement file) are removed with what was derived from them, so that the run redoes
exactly those runs and refreshes the tables (:mod:`ggnbench.workflow.heal` says why
removing the derived files is what makes Snakemake rerun them). The Snakefile calls
:func:`repair` once, in its main process, before any job is planned; a dry run only
lists what it would redo.
"""

from __future__ import annotations

from typing import Any

from ggnbench.workflow import chunks, epoch_cost, heal, paths, study


def checks(config: dict[str, Any], devices: list[str]) -> list[heal.Check]:
    """Every result file of a study that a rerun must not trust unchecked.

    Args:
        config: Validated study configuration.
        devices: The study's devices.

    Returns:
        One check per chunk manifest, ``best.json``, epoch measurement and reference
        run, each with the files derived from it.
    """
    results = config["results"]
    runs_table = [f"{results}/tables/runs.csv"]
    found = [
        heal.Check(m, heal.manifest_problem, runs_table)
        for m in chunks.manifests(config, devices, "final")
    ]
    for p, o, d in study.tuned_combos(config, devices):
        best = paths.best_path(config, p, o, d)
        found.append(heal.Check(best, heal.json_problem, runs_table))
        found += [
            heal.Check(
                paths.manifest_path(config, "tune", p, o, d, i),
                heal.manifest_problem,
                [best, *runs_table],
            )
            for i in range(chunks.n_chunks(config, "tune", p, o))
        ]
    if config["epoch_bench"]["enabled"]:
        found += [
            heal.Check(
                f"{results}/bench/epoch/{d}.csv",
                epoch_cost.damage,
                [f"{results}/tables/epoch_cost.csv"],
            )
            for d in devices
        ]
    example = config["seed_example"]
    if example["enabled"]:
        found += [
            heal.Check(
                f"{results}/seed_example/{v}/run.json",
                heal.run_problem,
                [f"{results}/tables/seed_example.csv"],
                lost_if_missing=True,
            )
            for v in example["variants"]
        ]
    return found


def repair(config: dict[str, Any], devices: list[str], dry_run: bool) -> list[str]:
    """Remove every unusable result with what was derived from it (a dry run: list them).

    Args:
        config: Validated study configuration.
        devices: The study's devices.
        dry_run: Only say what would be redone.

    Returns:
        One line per result to redo.
    """
    return heal.heal(checks(config, devices), remove=not dry_run)
