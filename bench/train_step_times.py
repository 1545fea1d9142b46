"""Time per training step of each optimizer on one problem, interleaved in one process.

Runs ``ggnbench``'s training loop for every optimizer in turn, ``--repeats`` times,
and reports the median and IQR over all steps (the first ``--skip`` of each run
dropped as warm-up), the ratio to SGD, and the DiagGGN step()'s share. Uses
synthetic MNIST-format data, so it runs offline::

    python bench/train_step_times.py --problem mnist_cnn --steps 30 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile

import torch

from ggnbench.run.config import RunConfig
from ggnbench.run.train import run
from ggnbench.workload.synthetic import write_mnist

HPARAMS = {
    "sgd": {"lr": 0.01, "momentum": 0.9},
    "adam": {"lr": 1e-3},
    "diag_ggn_mc": {"lr": 0.05, "damping": 1.0},
    "diag_ggn_exact": {"lr": 0.05, "damping": 1.0},
}


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(q1, median, q3)."""
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def main() -> None:
    """Measure and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="mnist_cnn")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--skip", type=int, default=3, help="warm-up steps dropped per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = tempfile.mkdtemp(prefix="ggnbench-steps-")
    write_mnist(root, n_train=args.batch_size * (args.steps + 1), n_test=200)
    step_times: dict[str, list[float]] = {name: [] for name in HPARAMS}
    opt_times: dict[str, list[float]] = {name: [] for name in HPARAMS}
    for _ in range(args.repeats):
        for name, hparams in HPARAMS.items():  # interleaved: each repeat visits all
            lr, rest = hparams["lr"], {k: v for k, v in hparams.items() if k != "lr"}
            cfg = RunConfig(args.problem, name, lr, rest, steps=args.steps, eval_every=0,
                            batch_size=args.batch_size, data_root=root,
                            download=False)  # fmt: skip
            result = run(cfg)
            train = [r for r in result.records if r["split"] == "train"]
            times = [b["time_s"] - a["time_s"] for a, b in itertools.pairwise(train)]
            step_times[name] += times[args.skip :]
            opt_times[name].append(result.summary["median_optimizer_step_s"])
    sgd = quartiles(step_times["sgd"])[1]
    kept = args.steps - args.skip - 1
    print(f"{args.problem}, batch {args.batch_size}, {args.threads} thread(s), "
          f"torch {torch.__version__}, {args.repeats}x{kept} steps each")  # fmt: skip
    print("optimizer        median ms    IQR ms   ratio to sgd   step() ms   step() share")
    for name in HPARAMS:
        q1, med, q3 = quartiles(step_times[name])
        opt = statistics.median(opt_times[name])
        print(f"{name:15s} {med * 1e3:10.1f} {(q3 - q1) * 1e3:9.1f} {med / sgd:14.2f} "
              f"{opt * 1e3:11.2f} {opt / med:14.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
