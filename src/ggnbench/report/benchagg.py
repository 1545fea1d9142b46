"""pytest-benchmark JSON to overhead, memory, optimizer-step and backend-race tables.

Ratios divide by the plain gradient (extension ``none``) of the same network, batch
size, device and timed region, measured in the same benchmark session. The spread
of a ratio is conservative: (q1 of the extension / q3 of the plain gradient,
q3 / q1). The backend race (``bench/test_race.py``) times native and BackPACK
extensions in interleaved rounds; its ratios are paired, round by round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ggnbench.errors import GGNBenchError
from ggnbench.run.results import read_json

CASE = ["network", "batch_size", "device", "region"]
#: Status of a row of ``bench_overhead``: timed, or not (its ``note`` says why).
MEASURED, UNMEASURED, NO_BASELINE = "measured", "unmeasured", "no baseline"


def load_benchmarks(paths: list[str | Path]) -> pd.DataFrame:
    """One row per timed combination from pytest-benchmark JSON files.

    Args:
        paths: JSON files written with ``--benchmark-json``.

    Returns:
        Case fields, timing statistics in seconds, peak memory and the machine.

    Raises:
        GGNBenchError: If a file is missing or is not a ggnbench benchmark.
    """
    rows: list[dict[str, Any]] = []
    for path in paths:
        data = read_json(path, "rerun the benchmark (snakemake bench)")
        machine = data.get("machine_info", {})
        where = machine.get("provenance", {})
        where = where.get("gpu") or where.get("cpu") or machine.get("cpu", {}).get("brand_raw")
        for bench in data.get("benchmarks", []):
            info = bench.get("extra_info", {})
            if info.get("kind") == "race":
                continue
            if "extension" not in info:
                raise GGNBenchError(f"{path} holds a benchmark without ggnbench's extra_info")
            stats = bench["stats"]
            rows.append(
                {
                    **{k: info[k] for k in (*CASE, "extension")},
                    "median_s": stats["median"], "q1_s": stats["q1"], "q3_s": stats["q3"],
                    "iqr_s": stats["iqr"], "mean_s": stats["mean"], "rounds": stats["rounds"],
                    "peak_memory_bytes": info.get("peak_memory_bytes"),
                    "memory_method": info.get("memory_method"), "hardware": where,
                    "eigh_float64_retries": info.get("eigh_float64_retries", 0),
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def load_unmeasured(paths: list[str | Path]) -> pd.DataFrame:
    """The cases a benchmark session could not measure, with the first line of the cause.

    Args:
        paths: JSON files written with ``--benchmark-json`` (``bench/conftest.py`` lists
            failed cases under ``unmeasured``).

    Returns:
        Case fields, extension and reason; empty when every case was measured.
    """
    rows = [
        {**{k: entry[k] for k in (*CASE, "extension")}, "reason": entry["reason"]}
        for path in paths
        for entry in read_json(path, "rerun the benchmark (snakemake bench)").get("unmeasured", [])
    ]
    return pd.DataFrame(rows, columns=[*CASE, "extension", "reason"])


#: The region that times what the paper timed; its rows get the paper's ratio.
PAPER_REGION = "paper_call"


def overhead(frame: pd.DataFrame, unmeasured: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ratio of each extension's median time to the plain gradient's.

    The paper's published median ratio (``reference/paper``) stands beside ours only in
    the region that repeats its timed call, on its networks and batch sizes. Every case
    gets a row: ``status`` says whether it was measured, could not be (``note``: the
    cause), or lacks its plain-gradient baseline (no ratio); ``note`` also counts the
    eigendecompositions redone in float64 within a measurement.

    Args:
        frame: Output of :func:`load_benchmarks`.
        unmeasured: Output of :func:`load_unmeasured`.

    Returns:
        One row per case and extension.
    """
    from ggnbench.report import paper

    published = paper.bench_ratios().set_index(["network", "extension", "batch_size"])
    rows = []
    for key, group in frame.groupby(CASE, sort=False):
        base = group[group.extension == "none"]
        b = base.iloc[0] if not base.empty else None
        for row in group.itertuples():
            entry = dict(zip(CASE, key, strict=True))
            retries = int(getattr(row, "eigh_float64_retries", 0) or 0)
            entry.update(
                extension=row.extension,
                status=MEASURED if b is not None else NO_BASELINE,
                median_ms=row.median_s * 1e3,
                iqr_ms=row.iqr_s * 1e3,
                ratio=row.median_s / b.median_s if b is not None else np.nan,
                ratio_low=row.q1_s / b.q3_s if b is not None else np.nan,
                ratio_high=row.q3_s / b.q1_s if b is not None else np.nan,
                paper_ratio=_paper_value(published, row),
                note=f"{retries} eigendecompositions redone in float64" if retries else "",
            )
            rows.append(entry)
    if unmeasured is not None:
        rows += [
            {**{k: v for k, v in r.items() if k != "reason"}, "status": UNMEASURED,
             "note": r["reason"]}
            for r in unmeasured.to_dict("records")
        ]  # fmt: skip
    table = pd.DataFrame(rows)
    if not table.empty:
        table["paper_source"] = np.where(table.paper_ratio.notna(), paper.SOURCE, "")
    return table


def _paper_value(published: pd.DataFrame, row: Any) -> float:
    key = (row.network, row.extension, row.batch_size)
    if row.region != PAPER_REGION or key not in published.index:
        return np.nan
    return float(published.loc[key, "paper_ratio"])


def memory(frame: pd.DataFrame) -> pd.DataFrame:
    """Peak memory per case and extension, and its ratio to the plain gradient.

    Args:
        frame: Output of :func:`load_benchmarks`.

    Returns:
        Rows for the regions with a plain-gradient baseline.
    """
    rows = []
    for key, group in frame.groupby(CASE, sort=False):
        base = group[group.extension == "none"]
        if base.empty:
            continue
        base_bytes = base.peak_memory_bytes.iloc[0]
        for row in group.itertuples():
            entry = dict(zip(CASE, key, strict=True))
            entry.update(
                extension=row.extension,
                peak_memory_mb=row.peak_memory_bytes / 2**20,
                ratio=row.peak_memory_bytes / base_bytes,
                method=row.memory_method,
            )
            rows.append(entry)
    return pd.DataFrame(rows)


def optimizer_step(frame: pd.DataFrame) -> pd.DataFrame:
    """The DiagGGN optimizer's own step() against its forward+backward and iteration.

    Args:
        frame: Output of :func:`load_benchmarks`.

    Returns:
        Per network, batch size, device and curvature: median step time, its
        fraction of the iteration, and the time it adds to forward+backward.
    """
    keys = ["network", "batch_size", "device", "extension"]
    indexed = frame.set_index([*keys, "region"]).median_s
    rows = []
    steps = frame[frame.region == "step"]
    for row in steps.itertuples():
        key = tuple(getattr(row, k) for k in keys)
        iteration = indexed.get((*key, "iteration"), np.nan)
        fwd_bwd = indexed.get((*key, "forward_backward"), np.nan)
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "step_ms": row.median_s * 1e3,
                "iteration_ms": iteration * 1e3,
                "step_fraction_of_iteration": row.median_s / iteration,
                "step_added_to_forward_backward": row.median_s / fwd_bwd,
            }
        )
    return pd.DataFrame(rows)


#: Goals for the native GGN diagonal's forward+backward time relative to BackPACK's,
#: per BackPACK extension (CPU, batch 128): reported beside each measured ratio.
BACKEND_GOALS = {"DiagGGNMC": 0.75, "DiagGGNExact": 0.5}


def backend_race(paths: list[str | Path]) -> pd.DataFrame:
    """Paired per-round ratios native/BackPACK from the races in benchmark JSON files.

    Args:
        paths: JSON files written with ``--benchmark-json``.

    Returns:
        Per race and BackPACK extension: both medians (ms), the plain gradient's, the
        median and quartiles of the per-round ratio native/BackPACK, both peak memories
        and their ratio, and the goal; empty when no race was run.
    """
    rows = []
    for path in paths:
        for bench in read_json(path, "rerun the benchmark (snakemake bench)").get("benchmarks", []):
            info = bench.get("extra_info", {})
            if info.get("kind") != "race":
                continue
            times = {k: np.asarray(v) for k, v in info["round_times_s"].items()}
            memory = info["peak_memory_bytes"]
            none_ms = float(np.median(times["none"])) * 1e3 if "none" in times else np.nan
            for native, times_native in times.items():
                backpack = native.removesuffix("-native")
                if native == backpack or backpack not in times:
                    continue
                paired = times_native / times[backpack]
                q1, median, q3 = np.percentile(paired, [25, 50, 75])
                rows.append(
                    {
                        **{k: info[k] for k in CASE},
                        "extension": backpack,
                        "rounds": len(paired),
                        "none_ms": none_ms,
                        "backpack_ms": float(np.median(times[backpack])) * 1e3,
                        "native_ms": float(np.median(times_native)) * 1e3,
                        "ratio": median, "ratio_q1": q1, "ratio_q3": q3,
                        "goal": BACKEND_GOALS.get(backpack, np.nan),
                        "backpack_memory_mb": memory[backpack] / 2**20,
                        "native_memory_mb": memory[native] / 2**20,
                        "memory_ratio": memory[native] / memory[backpack],
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def tables(json: list[str | Path]) -> dict[str, pd.DataFrame]:
    """The ``bench`` table set from pytest-benchmark JSON files.

    Args:
        json: The JSON files (one per device).

    Returns:
        ``bench_overhead``, ``bench_memory``, ``bench_optimizer_step`` and
        ``bench_backend_race``.

    Raises:
        GGNBenchError: If the files hold no benchmark at all, measured or not.
    """
    frame = load_benchmarks(json)
    unmeasured = load_unmeasured(json)
    if frame.empty and unmeasured.empty:
        raise GGNBenchError(f"no benchmarks in {json}; every combination was skipped")
    if frame.empty:
        frame = pd.DataFrame(columns=[*CASE, "extension", "median_s", "q1_s", "q3_s", "iqr_s",
                                      "mean_s", "rounds", "peak_memory_bytes", "memory_method",
                                      "hardware"])  # fmt: skip
    return {
        "bench_overhead": overhead(frame, unmeasured),
        "bench_memory": memory(frame),
        "bench_optimizer_step": optimizer_step(frame),
        "bench_backend_race": backend_race(json),
    }
