"""Throughput of the Fashion-MNIST panel's runs when several share one device.

Runs the same workload with 1, 2, 4 and 8 concurrent ``ggnbench train`` processes (each
a workflow job's process: start-up, data, steps, one evaluation): every optimizer of the
panel (``config/fmnist.yaml``, at its settings) ``--rounds`` times, taken from one queue
by N workers. Reports, per N, the workload's wall time, runs per hour and the speed-up
over one job at a time, as the ``runs_per_gpu`` setting would give it::

    python bench/gpu_share.py --device cuda --jobs 1,2,4,8 --steps 200 --out results/gpu_share

``--device cpu --threads 1`` runs the same on CPU cores (to try the script).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
PANEL = ROOT / "config" / "fmnist.yaml"
#: Hyperparameters of the panel that ``ggnbench train`` takes as options.
OPTIONS = ("momentum", "damping", "curvature_average", "shared_factors", "inverse_every", "backend")


def panel_commands(args: argparse.Namespace) -> list[list[str]]:
    """One ``ggnbench train`` command per optimizer of the panel, at its settings."""
    config = yaml.safe_load(PANEL.read_text())
    commands = []
    for name, entry in config["optimizers"].items():
        cmd = [sys.executable, "-m", "ggnbench.cli", "train", "--problem", "fmnist_2c2d",
               "--optimizer", name, "--lr", str(entry["lr"][0]), "--steps", str(args.steps),
               "--eval-every", "0", "--evaluation", "deepobs", "--holdout", "per_seed",
               "--device", args.device, "--data-root", str(args.data_root), "--no-download",
               "--threads", str(args.threads)]  # fmt: skip
        for key in OPTIONS:
            if key in entry:
                value = entry[key][0] if isinstance(entry[key], list) else entry[key]
                cmd += [f"--{key.replace('_', '-')}", str(value)]
        commands.append((name, cmd))
    return commands


def run_one(name: str, cmd: list[str], out: Path, index: int) -> dict:
    """One training process; its wall time."""
    start = time.perf_counter()
    done = subprocess.run([*cmd, "--out", str(out / f"run{index}"), "--overwrite"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"error: {name} failed: {done.stderr.strip().splitlines()[-1]}")
    return {"optimizer": name, "run_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--jobs", default="1,2,4,8", help="concurrent processes to try")
    parser.add_argument("--steps", type=int, default=200, help="training steps per run")
    parser.add_argument("--rounds", type=int, default=4, help="runs per optimizer per N")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    commands = panel_commands(args)
    queue = [c for _ in range(args.rounds) for c in commands]
    rows = []
    for n in [int(j) for j in args.jobs.split(",")]:
        start = time.perf_counter()
        folder = args.out / f"n{n}"
        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(run_one, name, cmd, folder, i)
                       for i, (name, cmd) in enumerate(queue)]  # fmt: skip
            runs = [f.result() for f in futures]
        wall = time.perf_counter() - start
        rows.append({"jobs": n, "runs": len(runs), "wall_s": wall,
                     "runs_per_hour": len(runs) / wall * 3600,
                     "median_run_s": statistics.median(r["run_s"] for r in runs)})  # fmt: skip
        print(f"{n} concurrent: {len(runs)} runs in {wall:.1f} s", flush=True)
    table = pd.DataFrame(rows)
    table["speedup"] = table.runs_per_hour / table.runs_per_hour.iloc[0]
    table.to_csv(args.out / "gpu_share.csv", index=False)
    (args.out / "gpu_share.md").write_text(table.to_markdown(index=False) + "\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
