"""Measure the workflow's scheduling overhead on one configuration.

Runs ``snakemake --cores N --configfile CONFIG`` into a fresh results folder and
compares its wall time with the summed in-process time of its training runs
divided by N (the ideal wall time with N cores kept busy by training alone)::

    python bench/workflow_overhead.py --configfile config/quick.yaml --cores 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    """Run the workflow once and print the overhead ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/quick.yaml")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    results = Path(tempfile.mkdtemp(prefix="ggnbench-overhead-"))
    cmd = [
        sys.executable, "-m", "snakemake", "--cores", str(args.cores), "--configfile",
        args.configfile, "--config", f"results={results}", "--quiet", "all",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    run_files = list(results.glob("runs/**/run.json")) + list(
        results.glob("seed_example/*/run.json")
    )
    compute = sum(json.loads(p.read_text())["summary"]["total_time_s"] for p in run_files)
    jobs = sum(pd.read_csv(p, sep="\t")["s"].sum() for p in results.glob("benchmarks/**/*.tsv"))
    ideal = compute / args.cores
    print(f"runs: {len(run_files)}")
    print(f"wall time of snakemake: {wall:.1f} s")
    print(f"summed in-process run time: {compute:.1f} s (/{args.cores} = {ideal:.1f} s)")
    print(f"summed training-job time incl. process start-up: {jobs:.1f} s")
    print(f"overhead ratio wall / (compute / cores): {wall / ideal:.3f}")
    shutil.rmtree(results)


if __name__ == "__main__":
    main()
