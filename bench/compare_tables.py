"""Compare two studies' tables, timing and memory columns left out.

For a change that must not change results (a faster data path, another evaluation
path): run the same study before and after into two results folders, then::

    python bench/compare_tables.py BEFORE/tables AFTER/tables

Every CSV table present in both is read as text; columns that time or measure memory
(``time_s``, ``*_s``, ``*_ms``, ``*seconds``, ``*memory*``, ``*_h``, ratios of times) are
dropped, and what is left must be equal cell for cell, except evaluation losses (a
``*loss*`` column, or a row whose ``metric`` is a loss; training-split rows excluded),
which must agree within the fast evaluation path's stated tolerance (1e-5 of the value
plus 1e-6); their largest relative difference is shown. Tables that are measurements
throughout (the benchmarks, job runtimes) or that record the environment (provenance:
the commit) are listed as skipped; ``config`` is compared key by key and its differing
keys are shown. Exit status 1 when a compared table differs.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

#: Tables that are timings or memory measurements throughout.
MEASUREMENTS = re.compile(r"^(bench_|epoch_|job_runtimes$|time_per_step$)")
#: Tables that record where and with what a study ran.
ENVIRONMENT = ("provenance",)
#: Columns that time or measure memory.
TIMING = re.compile(r"(^|_)(time|seconds)(_|$)|_s$|_s_q[13]$|_ms$|_h$|memory|ratio")
#: The fast evaluation path's tolerance on a loss (ggnbench.workload.evaluation.evaluate).
LOSS_RTOL, LOSS_ATOL = 1e-5, 1e-6


def _loss_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Which cells hold an evaluation loss (compared within the tolerance)."""
    cells = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    evaluation = frame["split"] != "train" if "split" in frame else True
    for column in frame.columns:
        if "loss" in column:
            cells[column] = evaluation
    if "metric" in frame:
        row = frame["metric"].str.contains("loss") & evaluation
        for column in frame.columns:
            if column not in ("metric",) and pd.to_numeric(frame[column], "coerce").notna().any():
                cells[column] |= row
    return cells


def _equal(a: pd.DataFrame, b: pd.DataFrame) -> tuple[list[str], float]:
    """Columns that differ, and the largest relative difference of the loss cells."""
    loss = _loss_cells(a)
    worst, columns = 0.0, []
    for column in a.columns:
        exact = ~loss[column]
        if not a[column][exact].equals(b[column][exact]):
            columns.append(column)
            continue
        x = pd.to_numeric(a[column][~exact], "coerce")
        y = pd.to_numeric(b[column][~exact], "coerce")
        if x.isna().ne(y.isna()).any():
            columns.append(column)
            continue
        diff = (x - y).abs()
        if (diff > LOSS_ATOL + LOSS_RTOL * y.abs()).any():
            columns.append(column)
        elif len(diff.dropna()):
            worst = max(worst, float((diff / y.abs().clip(lower=1e-12)).max()))
    return columns, worst


def compare(before: Path, after: Path) -> int:
    """Print one line per table; return how many compared tables differ."""
    differing = 0
    for path in sorted(before.glob("*.csv")):
        name = path.stem
        other = after / path.name
        if not other.exists():
            print(f"{name}: only in {before}")
            continue
        if MEASUREMENTS.match(name) or name in ENVIRONMENT:
            print(f"{name}: skipped (measurements or environment throughout)")
            continue
        a = pd.read_csv(path, dtype=str, keep_default_na=False)
        b = pd.read_csv(other, dtype=str, keep_default_na=False)
        if name == "config":
            old = dict(zip(a.key, a.value, strict=True))
            new = dict(zip(b.key, b.value, strict=True))
            changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            print(f"config: keys that differ: {', '.join(changed) or 'none'}")
            continue
        dropped = [c for c in a.columns if TIMING.search(c)]
        a, b = a.drop(columns=dropped), b.drop(columns=[c for c in dropped if c in b])
        if list(a.columns) != list(b.columns) or a.shape != b.shape:
            print(f"{name}: DIFFERS in shape or columns ({a.shape} vs {b.shape})")
            differing += 1
        elif columns := _equal(a, b)[0]:
            print(f"{name}: DIFFERS in {', '.join(columns)}")
            differing += 1
        else:
            worst = _equal(a, b)[1]
            shown = f"; left out: {', '.join(dropped)}" if dropped else ""
            losses = f"; evaluation losses within {worst:.1e} (relative)" if worst else ""
            print(f"{name}: identical, {len(a)} rows{losses}{shown}")
    for path in sorted(after.glob("*.csv")):
        if not (before / path.name).exists():
            print(f"{path.stem}: only in {after}")
    return differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="tables folder of the study before")
    parser.add_argument("after", type=Path, help="tables folder of the study after")
    args = parser.parse_args()
    sys.exit(1 if compare(args.before, args.after) else 0)


if __name__ == "__main__":
    main()
