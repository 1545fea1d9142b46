"""``ggnbench train``: one training run, its options from the optimizer registry.

Each built-in hyperparameter is an option declared by its registry entry
(:func:`~ggnbench.optimizers.optim.hyperparameters`); ``--hparam KEY=VALUE`` gives any other
(a ``--optimizer-class``'s constructor argument).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import yaml

from ggnbench import defaults
from ggnbench.checks import values
from ggnbench.commands.common import names
from ggnbench.devices import DEVICE_NAMES
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers.hyperparams import Hyperparameter
from ggnbench.optimizers.optim import OPTIMIZERS, hyperparameters
from ggnbench.workload.evaluation import EvalPath
from ggnbench.workload.loaders import Evaluation, Holdout
from ggnbench.workload.problems import PROBLEMS
from ggnbench.workload.tensordata import DataPath


def takers(hyperparameter: str) -> str:
    """The built-in optimizers that take a hyperparameter, for its option's help.

    Args:
        hyperparameter: A name of some ``OptimizerSpec.hyperparams``.

    Returns:
        ``taken by a, b and c`` (registry order).
    """
    taking = [name for name, spec in OPTIMIZERS.items() if hyperparameter in spec.names]
    return f"taken by {names(taking, 'and')}"


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from err
    if math.isnan(value):
        raise argparse.ArgumentTypeError("NaN is not allowed")
    return value


def _hparam(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: value is not a YAML scalar") from err
    if not isinstance(parsed, int | float | str | bool):
        raise argparse.ArgumentTypeError(f"{text!r}: value must be a number, string or bool")
    return key, parsed


def _eval_every(text: str) -> int | str:
    if text == "epoch":
        return text
    try:
        return int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer or 'epoch'") from err


def _dense_curvature() -> list[str]:
    """The built-in optimizers whose curvature backpropagates dense matrices (KFRA)."""
    return [
        name
        for name, spec in OPTIMIZERS.items()
        if spec.curvature is not None and spec.curvature.dense_backpropagation
    ]


def _add_hyperparameter(p: argparse.ArgumentParser, hyperparameter: Hyperparameter) -> None:
    """Add a built-in optimizer's hyperparameter as an option, from its registry entry."""
    kind = {float: _float, int: int, str: str}[hyperparameter.kind]
    p.add_argument(
        hyperparameter.flag,
        type=None if hyperparameter.choices else kind,
        choices=list(hyperparameter.choices) if hyperparameter.choices else None,
        help=f"{hyperparameter.help}: {hyperparameter.accepts} ({takers(hyperparameter.name)})",
    )


def add_train(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench train``."""
    p = sub.add_parser(
        "train",
        help="one training run into a run folder (metrics.csv, run.json)",
        description="Train one problem with one optimizer and write OUT/metrics.csv and "
        "OUT/run.json (written last, atomically).",
    )
    p.add_argument("--problem", required=True, help=f"problem: {names(PROBLEMS)}")
    p.add_argument(
        "--optimizer",
        help=f"a built-in optimizer: {names(OPTIMIZERS)}; with --optimizer-class, the run's "
        "name for it (default: the class's name)",
    )
    p.add_argument(
        "--optimizer-class",
        metavar="MODULE:CLASS",
        help="any torch optimizer by import path (importable from the environment or "
        "PYTHONPATH), e.g. torch.optim:RMSprop; its hyperparameters come from --hparam",
    )
    p.add_argument(
        "--hparam",
        action="append",
        type=_hparam,
        default=[],
        metavar="KEY=VALUE",
        help="a hyperparameter by name, as the options below give a built-in's: for "
        "--optimizer-class, a constructor argument (repeatable; VALUE is read as YAML: 0.9, "
        "true, name)",
    )
    p.add_argument("--lr", type=_float, required=True, help="learning rate (> 0)")
    for hyperparameter in hyperparameters().values():
        _add_hyperparameter(p, hyperparameter)
    p.add_argument(
        "--weight-decay",
        type=_float,
        help="L2 on weights (>= 0), for every optimizer; default: the problem's own",
    )
    p.add_argument(
        "--allow-large-curvature",
        action="store_true",
        help=f"run {names(_dense_curvature())} even where its dense backpropagated matrices "
        f"exceed {defaults.DENSE_CURVATURE_LIMIT_BYTES // 2**20} MiB (refused otherwise)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=defaults.SEED,
        help=f"seed set before data and model ({defaults.SEED})",
    )
    p.add_argument(
        "--device", default=defaults.DEVICE, help=f"{names(DEVICE_NAMES)} ({defaults.DEVICE})"
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
        choices=values(Holdout),
        default=defaults.HOLDOUT,
        help="validation holdout: the problem's fixed one, drawn with the seed (per_seed, as "
        f"DeepOBS), or none ({defaults.HOLDOUT})",
    )
    p.add_argument(
        "--evaluation",
        choices=values(Evaluation),
        default=defaults.EVALUATION,
        help="evaluation: ggnbench's (every example, a fixed train-eval subset) or DeepOBS's "
        "(training batch size, last partial batch dropped, train-eval drawn afresh from the "
        f"whole training split) ({defaults.EVALUATION})",
    )
    p.add_argument(
        "--eval-batch-size",
        type=int,
        default=defaults.EVAL_BATCH_SIZE,
        help=f"evaluation batch size; the fast path's forward passes on a GPU "
        f"({defaults.EVAL_BATCH_SIZE})",
    )
    p.add_argument(
        "--data-path",
        choices=values(DataPath),
        default=defaults.DATA_PATH,
        help="tensor: splits without augmentation held as one tensor, batches by index; pil: "
        f"torchvision's per-image transforms (bitwise the same batches) ({defaults.DATA_PATH})",
    )
    p.add_argument(
        "--eval-path",
        choices=values(EvalPath),
        default=defaults.EVAL_PATH,
        help="fast: inference mode, passes of the device's best size, a frozen network on "
        f"a CPU; exact: one forward pass per loader batch, as before ({defaults.EVAL_PATH})",
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


def cmd_train(args: argparse.Namespace) -> None:
    """Run ``ggnbench train``."""
    from ggnbench.progress import Progress
    from ggnbench.run.config import RunConfig
    from ggnbench.run.outcome import numerical_note
    from ggnbench.run.sweep import train_to_folder

    if args.optimizer is None and args.optimizer_class is None:
        raise GGNBenchError("give --optimizer (a built-in name) or --optimizer-class MODULE:CLASS")
    name = args.optimizer or args.optimizer_class.rpartition(":")[2].rpartition(".")[2]
    options = {h: getattr(args, h) for h in hyperparameters() if getattr(args, h) is not None}
    twice = sorted(set(options) & {key for key, _ in args.hparam})
    if twice:
        raise GGNBenchError(f"{twice[0]} is given twice (its option and --hparam); give it once")
    cfg = RunConfig(
        problem=args.problem,
        optimizer=name,
        optimizer_class=args.optimizer_class,
        hparams={**options, **dict(args.hparam)},
        lr=args.lr,
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
        evaluation=args.evaluation,
        data_path=args.data_path,
        eval_path=args.eval_path,
        data_root=str(args.data_root),
        download=not args.no_download,
        threads=args.threads,
        allow_large_curvature=args.allow_large_curvature,
    )
    progress = Progress(f"{cfg.problem}/{cfg.optimizer}", total=0)
    try:
        info = train_to_folder(cfg, args.out, progress=progress.step, overwrite=args.overwrite)
    finally:
        progress.close()
    summary = info["summary"]
    if info.get("failure"):
        print(f"failed at step {info['diverged_at']}: {info['failure']}", file=sys.stderr)
    if note := numerical_note(summary):
        print(note, file=sys.stderr)
    print(
        f"{info['status']}: {summary['steps_done']} steps, "
        f"final valid accuracy {summary.get('final_valid_accuracy', float('nan')):.4f}, "
        f"median step {summary['median_step_s'] * 1e3:.1f} ms -> {args.out}"
    )
