"""Measure the workflow's scheduling overhead on one configuration.

Runs ``snakemake --cores N --configfile CONFIG`` into a fresh results folder and
compares its wall time with the summed time of its training runs divided by N
(the ideal wall time with N cores kept busy by training alone), counted two ways:
the runs' in-process time (from run.json) and the training jobs' whole process time
(from the rules' benchmark files, Python start-up included). The overhead benchmark
is switched off unless ``--with-bench`` is given, as it is not training::

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
import yaml


def main() -> None:
    """Run the workflow once and print the overhead ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/quick.yaml")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--with-bench", action="store_true", help="keep the benchmark jobs")
    args = parser.parse_args()
    results = Path(tempfile.mkdtemp(prefix="ggnbench-overhead-"))
    config = yaml.safe_load(Path(args.configfile).read_text())
    config["results"] = str(results)
    if not args.with_bench:
        config.setdefault("bench", {})["enabled"] = False
    configfile = results / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    cmd = [
        sys.executable, "-m", "snakemake", "all", "--cores", str(args.cores), "--quiet",
        "--configfile", str(configfile),
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
    print(f"overhead ratio wall / (in-process run time / cores): {wall / ideal:.3f}")
    print(f"overhead ratio wall / (training-job time / cores): {wall / (jobs / args.cores):.3f}")
    shutil.rmtree(results)


if __name__ == "__main__":
    main()
