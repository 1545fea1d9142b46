"""The ``ggnbench`` command line: thin wrappers around the library.

Every user-facing failure is a :class:`~ggnbench.errors.GGNBenchError`, printed as
one line ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ggnbench import defaults
from ggnbench.errors import GGNBenchError


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from err
    if math.isnan(value):
        raise argparse.ArgumentTypeError("NaN is not allowed")
    return value


def _eval_every(text: str) -> int | str:
    if text == "epoch":
        return text
    try:
        return int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer or 'epoch'") from err


def _progress(desc: str) -> tuple[Callable[[int, int, float], None], Callable[[], None]]:
    """A tqdm bar on a terminal, else a plain log line every tenth of the run."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc=desc, unit="step", dynamic_ncols=True)

        def update(done: int, total: int, loss: float) -> None:
            bar.total = total
            bar.update(done - bar.n)
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

        return update, bar.close

    def log(done: int, total: int, loss: float) -> None:
        every = max(1, total // 10)
        if done % every == 0 or done == total:
            print(f"{desc}: step {done}/{total} loss {loss:.4f}", file=sys.stderr, flush=True)

    return log, lambda: None


def cmd_train(args: argparse.Namespace) -> None:
    """Run ``ggnbench train``."""
    from ggnbench import runner
    from ggnbench.train import RunConfig

    cfg = RunConfig(
        problem=args.problem,
        optimizer=args.optimizer,
        lr=args.lr,
        damping=args.damping,
        momentum=args.momentum,
        curvature_average=args.curvature_average,
        curvature_beta=args.curvature_beta,
        backend=args.backend,
        weight_decay=args.weight_decay,
        seed=args.seed,
        device=args.device,
        steps=args.steps,
        epochs=args.epochs,
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        eval_batch_size=args.eval_batch_size,
        keep_grad=args.keep_grad,
        holdout=args.holdout,
        data_root=str(args.data_root),
        download=not args.no_download,
        threads=args.threads,
    )
    update, close = _progress(f"{cfg.problem}/{cfg.optimizer}")
    try:
        info = runner.train_to_folder(cfg, args.out, progress=update, overwrite=args.overwrite)
    finally:
        close()
    summary = info["summary"]
    print(
        f"{info['status']}: {summary['steps_done']} steps, "
        f"final valid accuracy {summary.get('final_valid_accuracy', float('nan')):.4f}, "
        f"median step {summary['median_step_s'] * 1e3:.1f} ms -> {args.out}"
    )


def cmd_download(args: argparse.Namespace) -> None:
    """Run ``ggnbench download``."""
    from ggnbench import data

    if args.dataset not in data.DATASET_NAMES:
        raise GGNBenchError(
            f"unknown dataset {args.dataset!r}; choose one of {list(data.DATASET_NAMES)}"
        )
    data.download(args.dataset, args.data_root, allow_download=not args.no_download)
    if args.done is not None:
        args.done.parent.mkdir(parents=True, exist_ok=True)
        args.done.write_text(f"{args.dataset} ready in {args.data_root}\n")
    print(f"{args.dataset}: ready in {args.data_root}")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="one training run into a run folder (metrics.csv, run.json)",
        description="Train one problem with one optimizer and write OUT/metrics.csv and "
        "OUT/run.json (written last, atomically).",
    )
    p.add_argument("--problem", required=True, help="problem name, e.g. mnist_cnn or digits_cnn")
    p.add_argument("--optimizer", required=True, help="sgd, adam, diag_ggn_mc or diag_ggn_exact")
    p.add_argument("--lr", type=_float, required=True, help="learning rate (> 0)")
    p.add_argument("--damping", type=_float, help="damping added to the GGN diagonal (DiagGGN)")
    p.add_argument("--momentum", type=_float, help="momentum (sgd only)")
    p.add_argument(
        "--curvature-average",
        choices=["none", "mean", "ema"],
        help="DiagGGN's curvature: the current mini-batch's diagonal (none: the example's "
        "rule, the default), the mean of all diagonals so far (mean: the paper's), or a "
        "bias-corrected exponential average (ema)",
    )
    p.add_argument(
        "--curvature-beta", type=_float, help="decay of the ema curvature average (0.95)"
    )
    p.add_argument(
        "--backend",
        choices=["backpack", "native"],
        help="what computes DiagGGN's GGN diagonal: BackPACK's extension (backpack, the "
        "default) or ggnbench's own hooks (native)",
    )
    p.add_argument("--weight-decay", type=_float, help="L2 on weights; default: the problem's own")
    p.add_argument(
        "--seed",
        type=int,
        default=defaults.SEED,
        help=f"seed set before data and model ({defaults.SEED})",
    )
    p.add_argument(
        "--device", default=defaults.DEVICE, help=f"cpu, cuda, cuda:N or auto ({defaults.DEVICE})"
    )
    length = p.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=int, help="number of optimizer steps")
    length.add_argument("--epochs", type=int, help="number of passes over the training set")
    p.add_argument("--batch-size", type=int, help="training batch size; default: the problem's")
    p.add_argument(
        "--eval-every",
        type=_eval_every,
        default=defaults.EVAL_EVERY,
        help=f"evaluate every K steps (0: only at the end) or 'epoch': once a pass "
        f"({defaults.EVAL_EVERY})",
    )
    p.add_argument(
        "--holdout",
        choices=["fixed", "per_seed"],
        default=defaults.HOLDOUT,
        help="validation holdout: the problem's fixed one, or drawn with the seed (DeepOBS)",
    )
    p.add_argument(
        "--eval-batch-size",
        type=int,
        default=defaults.EVAL_BATCH_SIZE,
        help=f"evaluation batch size ({defaults.EVAL_BATCH_SIZE})",
    )
    p.add_argument(
        "--keep-grad",
        action="store_true",
        help="never zero gradients, as the published BackPACK example did",
    )
    p.add_argument("--data-root", type=Path, default=Path("data"), help="dataset folder (data)")
    p.add_argument("--no-download", action="store_true", help="never try to download data")
    p.add_argument("--threads", type=int, help="torch CPU threads (torch's default)")
    p.add_argument("--out", type=Path, required=True, help="run folder to write")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished run in OUT that has another configuration",
    )
    p.set_defaults(func=cmd_train)


def cmd_synth_mnist(args: argparse.Namespace) -> None:
    """Run ``ggnbench synth-mnist``."""
    from ggnbench.synthetic import write_mnist

    write_mnist(args.data_root, args.folder, args.n_train, args.n_test, args.seed)
    print(
        f"wrote synthetic {args.folder} ({args.n_train} train, {args.n_test} test) under "
        f"{args.data_root}"
    )


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth-mnist",
        help="write synthetic MNIST-format files (offline smoke tests and timings)",
        description="Write learnable synthetic images in MNIST's IDX format under "
        "DATA_ROOT/FOLDER/raw, read by torchvision's MNIST classes like the real data.",
    )
    p.add_argument("--data-root", type=Path, required=True, help="dataset folder to write into")
    p.add_argument("--folder", default="MNIST", choices=["MNIST", "FashionMNIST"])
    p.add_argument("--n-train", type=int, default=60000, help="training images (60000)")
    p.add_argument("--n-test", type=int, default=10000, help="test images (10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated data (0)")
    p.set_defaults(func=cmd_synth_mnist)


def _add_download(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "download",
        help="fetch a dataset into the data root",
        description="Fetch both splits of a dataset (mnist, fmnist, cifar10, cifar100; digits "
        "ships with scikit-learn) into the data root.",
    )
    p.add_argument("dataset", help="dataset name")
    p.add_argument("--data-root", type=Path, default=Path("data"), help="dataset folder (data)")
    p.add_argument("--no-download", action="store_true", help="only check the files are there")
    p.add_argument("--done", type=Path, help="marker file to write once the data is ready")
    p.set_defaults(func=cmd_download)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand.

    Returns:
        The parser.
    """
    from ggnbench import commands

    parser = argparse.ArgumentParser(
        prog="ggnbench",
        description="Reproduce and benchmark the BackPACK diagonal Gauss-Newton optimizer.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)
    _add_download(sub)
    _add_synth(sub)
    commands.add_all(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point.

    Args:
        argv: Arguments; ``sys.argv[1:]`` if None.

    Returns:
        Exit status: 0 on success, 2 on a user-facing error.
    """
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except GGNBenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        # A full disk or a folder that became unwritable: name the file and the cause.
        where = f" on {err.filename}" if err.filename else ""
        print(
            f"error: file system error{where}: {err.strerror or err}; free some space or "
            "choose a writable folder, then rerun the same command (nothing half-written "
            "was kept)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; rerun the same command to start this run again", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
