"""DiagGGN with the native GGN backend against BackPACK's: final accuracy on the quick study.

Trains ``diag_ggn_mc`` and ``diag_ggn_exact`` with both backends on the quick study's
problem (digits_cnn, offline) with its steps, seeds and the paper's ``mean`` curvature
average, at one grid point, and prints the final test accuracy per run, the mean per
backend and the largest difference between the backends on the same seed. Exits 1 if
that difference exceeds ``--band``::

    python bench/backend_accuracy.py --config config/quick.yaml --lr 0.1 --damping 0.1
"""

from __future__ import annotations

import argparse
import statistics
import sys

import yaml

from ggnbench.run.config import RunConfig
from ggnbench.run.train import run


def main() -> int:
    """Train, print the table, and check the band."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/quick.yaml", help="study configuration")
    parser.add_argument("--problem", default="digits_cnn", help="a problem of that config")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate")
    parser.add_argument("--damping", type=float, default=0.1, help="damping")
    parser.add_argument("--band", type=float, default=0.02, help="largest accepted difference")
    args = parser.parse_args()
    with open(args.config) as handle:
        config = yaml.safe_load(handle)
    problem = config["problems"][args.problem]
    rows = []
    for optimizer in ("diag_ggn_mc", "diag_ggn_exact"):
        for seed in config["final_seeds"]:
            for backend in ("backpack", "native"):
                cfg = RunConfig(
                    args.problem, optimizer, lr=args.lr, seed=seed,
                    hparams={"damping": args.damping, "curvature_average": "mean",
                             "backend": backend},
                    steps=problem.get("steps"), epochs=problem.get("epochs"),
                    eval_every=0, data_root=config["data_root"], download=False, threads=1,
                )  # fmt: skip
                summary = run(cfg).summary
                rows.append((optimizer, seed, backend, summary["final_test_accuracy"]))
                print(f"{optimizer:15s} seed {seed:3d} {backend:9s} "
                      f"test accuracy {rows[-1][3]:.4f}", flush=True)  # fmt: skip
    worst = 0.0
    for optimizer in ("diag_ggn_mc", "diag_ggn_exact"):
        acc = {b: [r[3] for r in rows if r[0] == optimizer and r[2] == b]
               for b in ("backpack", "native")}  # fmt: skip
        gap = max(abs(a - b) for a, b in zip(acc["backpack"], acc["native"], strict=True))
        worst = max(worst, gap)
        print(f"{optimizer}: mean backpack {statistics.mean(acc['backpack']):.4f}, native "
              f"{statistics.mean(acc['native']):.4f}, largest same-seed gap {gap:.4f}")  # fmt: skip
    if worst > args.band:
        print(f"error: the backends differ by {worst:.4f} > band {args.band}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
