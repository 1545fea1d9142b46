"""What a report needs besides results: the configuration, provenance, job runtimes.

The ``evidence`` table set (``ggnbench tables evidence``) turns the resolved study
configuration, the ``run.json`` of every run and Snakemake's per-job ``benchmark`` files
into three tables that the HTML report shows beside the figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ggnbench.errors import GGNBenchError
from ggnbench.provenance import PACKAGES
from ggnbench.run import results

#: Software whose versions the provenance table shows: what every result records.
VERSIONS = PACKAGES

#: Hardware and source fields copied from a run's provenance, in column order.
MACHINE = ("git_commit", "git_dirty", "cpu", "gpu", "cuda_runtime", "driver", "platform")


def config_table(config: dict[str, Any]) -> pd.DataFrame:
    """The resolved configuration, one row per leaf key.

    Args:
        config: The study configuration with the schema's defaults filled in.

    Returns:
        Columns ``key`` (``optimizers/sgd/lr``) and ``value`` (JSON).
    """
    rows: list[dict[str, str]] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, f"{prefix}/{key}" if prefix else str(key))
        else:
            rows.append({"key": prefix, "value": json.dumps(node)})

    walk(config, "")
    return pd.DataFrame(rows, columns=["key", "value"])


def _origin(info: dict[str, Any]) -> str | None:
    origin = info.get("resolved", {}).get("optimizer_origin")
    if not origin:
        return None
    where = (
        f"{origin['distribution']} {origin['version']}"
        if origin.get("distribution")
        else f"{origin.get('module_file')} sha256:{(origin.get('module_sha256') or '')[:12]}"
    )
    return f"{origin['class']} ({where})"


def provenance_table(run_folders: list[str | Path]) -> pd.DataFrame:
    """Where the runs ran: one row per distinct software, source and hardware setting.

    Args:
        run_folders: Run folders (each with its ``run.json``).

    Returns:
        Python and package versions, git commit and dirty flag, CPU, GPU, CUDA runtime,
        driver, platform, the optimizer class's origin (for classes named by import path),
        and the number of runs with that setting.

    Raises:
        GGNBenchError: If a run folder is missing or damaged.
    """
    rows = []
    for folder in run_folders:
        info = results.read_run_json(folder)
        prov = info.get("provenance", {})
        versions = prov.get("versions", {})
        row: dict[str, Any] = {"python": prov.get("python")}
        row.update({name: versions.get(name) for name in VERSIONS})
        row.update({name: prov.get(name) for name in MACHINE})
        row["optimizer_class"] = _origin(info)
        rows.append(row)
    columns = ["python", *VERSIONS, *MACHINE, "optimizer_class"]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame.assign(runs=pd.Series(dtype=int))
    groups = frame.groupby(columns, sort=False, dropna=False)
    firsts = frame.loc[groups.head(1).index].reset_index(drop=True)
    return firsts.assign(runs=groups.size().to_numpy())


def job_runtimes(benchmarks: dict[str, list[str | Path]]) -> pd.DataFrame:
    """Wall time and memory of the workflow's jobs, per rule, from Snakemake's benchmarks.

    Args:
        benchmarks: Rule name to the ``benchmark`` files of its jobs (TSV with ``s``,
            ``max_rss`` in MB and ``cpu_time``).

    Returns:
        Per rule: jobs, total, median and longest wall time (s), total CPU time (s) and
        the largest resident memory (MB).

    Raises:
        GGNBenchError: If a benchmark file is missing or unreadable.
    """
    rows = []
    for rule, files in benchmarks.items():
        frames = []
        for path in files:
            try:
                frames.append(pd.read_csv(path, sep="\t"))
            except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
                raise GGNBenchError(
                    f"benchmark file {path} is unreadable ({err}); rerun the workflow"
                ) from err
        if not frames:
            continue
        data = pd.concat(frames, ignore_index=True)
        rss = pd.to_numeric(data.get("max_rss"), errors="coerce")
        rows.append(
            {
                "rule": rule,
                "jobs": len(data),
                "total_s": data.s.sum(),
                "median_s": data.s.median(),
                "max_s": data.s.max(),
                "cpu_time_s": pd.to_numeric(data.get("cpu_time"), errors="coerce").sum(),
                "max_rss_mb": rss.max(),
            }
        )
    return pd.DataFrame(
        rows, columns=["rule", "jobs", "total_s", "median_s", "max_s", "cpu_time_s", "max_rss_mb"]
    )


def _pairs(items: list[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for item in items:
        rule, sep, path = item.partition("=")
        if not sep:
            raise GGNBenchError(f"--benchmark {item!r} is not RULE=FILE")
        grouped.setdefault(rule, []).append(path)
    return grouped


def tables(
    config: dict[str, Any], runs_table: str | Path | None, run: list[str], benchmark: list[str]
) -> dict[str, pd.DataFrame]:
    """The evidence table set.

    Args:
        config: The resolved configuration.
        runs_table: The study's ``runs.csv`` (its ``run`` column lists the run folders);
            None when the study has no runs table.
        run: Further run folders (the reference example's).
        benchmark: ``RULE=FILE`` pairs of Snakemake benchmark files.

    Returns:
        ``config``, ``provenance`` and ``job_runtimes``.
    """
    folders: list[str | Path] = []
    if runs_table is not None:
        listed = pd.read_csv(runs_table)
        folders += listed.loc[listed.status != "no_best", "run"].dropna().tolist()
    folders += run
    return {
        "config": config_table(config),
        "provenance": provenance_table(folders),
        "job_runtimes": job_runtimes(_pairs(benchmark)),
    }
