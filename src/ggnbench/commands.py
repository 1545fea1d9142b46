"""Every ``ggnbench`` subcommand: what it does (``cmd_*``) and its options (``_add_*``).

:data:`COMMANDS` is the one registry of the command line: train, download, synth-mnist,
check-config, sweep, select-best, tables, figures. ``cli.main`` parses and reports errors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from ggnbench import CHECKOUT, defaults
from ggnbench.devices import DEVICE_NAMES
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers.hyperparams import Hyperparameter
from ggnbench.optimizers.optim import OPTIMIZERS, hyperparameters
from ggnbench.report.figure_sets import FIGURE_SETS
from ggnbench.report.tables import json_argument
from ggnbench.run.config import HOLDOUTS
from ggnbench.workflow.epoch_cost import PATHS
from ggnbench.workload.data import DATASET_NAMES, DATASETS
from ggnbench.workload.evaluation import EVAL_PATHS
from ggnbench.workload.loaders import EVALUATIONS
from ggnbench.workload.problems import PROBLEMS
from ggnbench.workload.sources import SOURCES
from ggnbench.workload.tensordata import DATA_PATHS


def names(registry: Iterable[str], last: str = "or") -> str:
    """A registry's names as a list for a help text or a message: ``a, b or c``.

    Args:
        registry: The registry (its keys) or a tuple of names.
        last: The word before the last name.

    Returns:
        The names in registry order.
    """
    listed = list(registry)
    if len(listed) < 2:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} {last} {listed[-1]}"


def takers(hyperparameter: str) -> str:
    """The built-in optimizers that take a hyperparameter, for its option's help.

    Args:
        hyperparameter: A name of some ``OptimizerSpec.hyperparams``.

    Returns:
        ``taken by a, b and c`` (registry order).
    """
    taking = [name for name, spec in OPTIMIZERS.items() if hyperparameter in spec.names]
    return f"taken by {names(taking, 'and')}"


#: The schema of the study configs.
SCHEMA = CHECKOUT / "config" / "schema.yaml"


def cmd_sweep(args: argparse.Namespace) -> None:
    """Run ``ggnbench sweep``."""
    from ggnbench.run.sweep import sweep

    if not isinstance(args.runs, list):
        raise GGNBenchError("--runs must be a JSON list of {out, config} objects")
    if args.threads is not None:
        for item in args.runs:
            item["config"]["threads"] = args.threads
    sweep(args.runs, args.manifest, args.best)


def cmd_select_best(args: argparse.Namespace) -> None:
    """Run ``ggnbench select-best``."""
    from ggnbench.run.results import atomic_write_json
    from ggnbench.workflow.best_point import select_best

    best = select_best(args.manifests)
    atomic_write_json(args.out, best)
    choice = best["best"]
    shown = "none (every grid point diverged)" if choice is None else (
        f"lr={choice['lr']} damping={choice['damping']} "
        f"valid accuracy {choice['final_valid_accuracy']:.4f}"
    )  # fmt: skip
    print(f"{best['problem']}/{best['optimizer']}/{best['device']}: best {shown}")


def cmd_tables(args: argparse.Namespace) -> None:
    """Run ``ggnbench tables NAME``."""
    from ggnbench.report import tables

    options = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command", "func", "set", "out")
    }
    paths = tables.make(args.set, args.out, **options)
    print(f"table set {args.set}: wrote {len(paths)} files into {args.out}")


#: The figure set ``ggnbench figures`` draws without a flag; every other set of
#: :data:`~ggnbench.report.figure_sets.FIGURE_SETS` has its flag (``--seed-example`` for
#: ``seed_example``).
DEFAULT_FIGURE_SET = "study"

#: What each figure set's flag draws, for its help (a set not named here gets a plain one).
FIGURE_SET_HELP = {
    "seed_example": "only the reference example's figure",
    "bench": "only the benchmark's figures",
    "paper": "only the comparison with the paper's curves",
}


def _figure_flag(figure_set: str) -> str:
    return "--" + figure_set.replace("_", "-")


def cmd_figures(args: argparse.Namespace) -> None:
    """Run ``ggnbench figures``."""
    from ggnbench.report.figures.draw import draw

    flagged = [name for name in FIGURE_SETS if getattr(args, name, False)]
    figure_set = flagged[0] if flagged else DEFAULT_FIGURE_SET
    paths = draw(figure_set, args.tables, args.out, args.only)
    print(f"wrote {len(paths)} figure files into {args.out}")


def cmd_check_config(args: argparse.Namespace) -> None:
    """Run ``ggnbench check-config``."""
    from ggnbench.workflow.configcheck import check_file, plan_error

    for path in args.configfile:
        problem = check_file(path, args.schema) or plan_error(path, args.schema)
        if problem is not None:
            raise GGNBenchError(problem.removeprefix("error: "))
        print(f"{path}: valid")


def _add_check_config(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench check-config``."""
    p = sub.add_parser(
        "check-config",
        help="check study config files (YAML syntax, schema, plan and optimizer classes) "
        "with a one-line verdict",
        description="Read each config file as YAML, validate it against the schema and check "
        "its plan (grids, optimizer classes importable and their hyperparameters), naming the "
        "file and line of a syntax error, the key of an invalid value or the problem found.",
    )
    p.add_argument("configfile", nargs="+", type=Path, help="config files to check")
    p.add_argument(
        "--schema",
        type=Path,
        default=SCHEMA,
        help="the schema (config/schema.yaml of this checkout)",
    )
    p.set_defaults(func=cmd_check_config)


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench sweep``."""
    p = sub.add_parser(
        "sweep",
        help="run a list of planned runs, skipping finished ones (one workflow job)",
        description="Train every run in --runs whose folder lacks a matching run.json, then "
        "write the manifest (the runs and their status).",
    )
    p.add_argument("--runs", type=json_argument, required=True, help="JSON list of {out, config}")
    p.add_argument("--manifest", type=Path, required=True, help="manifest file to write")
    p.add_argument("--best", type=Path, help="best.json that sets lr and damping (final runs)")
    p.add_argument("--threads", type=int, help="torch CPU threads for every run (the job's)")
    p.set_defaults(func=cmd_sweep)


def cmd_epoch_bench(args: argparse.Namespace) -> None:
    """Run ``ggnbench epoch-bench``."""
    from ggnbench.progress import Progress
    from ggnbench.run.results import atomic_write_text
    from ggnbench.workflow import epoch_cost
    from ggnbench.workflow.configcheck import load_study

    section: dict = {"repeats": 3, "paths": list(epoch_cost.PATHS)}
    if args.configfile is not None:
        config = load_study(args.configfile, args.schema)
        section = config["epoch_bench"]
        args.cases = epoch_cost.plan(config, args.device)
        if not args.cases:
            raise GGNBenchError(f"{args.configfile}: its epoch_bench selects no case")
    if not isinstance(args.cases, list) or not all(
        isinstance(c, dict) and {"run", "study"} <= set(c) for c in args.cases
    ):
        raise GGNBenchError("--cases must be a JSON list of {run, study} objects")
    if args.threads is not None:
        for case in args.cases:
            case["run"]["threads"] = args.threads
    given = args.paths.split(",") if args.paths is not None else section["paths"]
    paths = tuple(p.strip() for p in given if p.strip())
    repeats = args.repeats if args.repeats is not None else section["repeats"]
    progress = Progress("epoch-bench", len(args.cases) * len(paths) * repeats, unit="run",
                        every_s=0)  # fmt: skip

    def measured(line: str) -> None:
        progress.update(progress.done + 1, last=line)

    try:
        frame = epoch_cost.measure(args.cases, repeats, paths, progress=measured)
    finally:
        progress.close()
    atomic_write_text(args.out, frame.to_csv(index=False))
    print(f"{len(frame)} measured runs -> {args.out}")


def _add_epoch_bench(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench epoch-bench``."""
    p = sub.add_parser(
        "epoch-bench",
        help="time runs end to end (steps with their data, evaluation, set-up) on each "
        "data/evaluation path, interleaved (one workflow job)",
        description="Train every case of --cases for its few steps and one evaluation, once "
        "per path and round, and write the measurements as CSV (ggnbench tables epoch "
        "extrapolates epochs, runs and panels from them).",
    )
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--cases", type=json_argument, help="JSON list of {run, study} objects")
    given.add_argument(
        "--configfile",
        type=Path,
        help="a study config: time its epoch_bench selection (e.g. config/fmnist.yaml)",
    )
    p.add_argument("--device", default="cpu", help="device of --configfile's cases (cpu)")
    p.add_argument(
        "--schema",
        type=Path,
        default=SCHEMA,
        help="the schema (config/schema.yaml of this checkout)",
    )
    p.add_argument("--repeats", type=int, help="rounds over every case (--configfile's, else 3)")
    p.add_argument(
        "--paths",
        help=f"DATA/EVAL path variants, comma-separated, the first the reference: DATA "
        f"{names(DATA_PATHS)}, EVAL {names(EVAL_PATHS)} (--configfile's, else "
        f"{','.join(PATHS)})",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads for every run (the job's)")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write")
    p.set_defaults(func=cmd_epoch_bench)


def _add_select_best(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench select-best``."""
    p = sub.add_parser(
        "select-best",
        help="choose the best grid point from tuning manifests",
        description="Rank tuning runs by final validation accuracy (diverged runs excluded) "
        "and write best.json with the choice and the runner-up.",
    )
    p.add_argument("--manifests", nargs="+", required=True, help="tuning manifests")
    p.add_argument("--out", type=Path, required=True, help="best.json to write")
    p.set_defaults(func=cmd_select_best)


def _add_tables(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench tables``."""
    from ggnbench.report.tables import TABLE_SETS

    p = sub.add_parser(
        "tables",
        help="results to a set of tables (CSV, Markdown, LaTeX): " + ", ".join(TABLE_SETS),
        description="Compute every table of one set, then write them into OUT (nothing is "
        "written if any fails).",
    )
    sets = p.add_subparsers(dest="set", required=True, metavar="SET")
    for name, table_set in TABLE_SETS.items():
        q = sets.add_parser(
            name,
            help=table_set.help,
            description=f"{table_set.help}; writes "
            + ", ".join([*table_set.tables, *(f"{e}.csv" for e in table_set.extras)]),
        )
        for flag, keywords in table_set.options:
            q.add_argument(flag, **keywords)
        q.add_argument("--out", type=Path, required=True, help="tables folder")
    p.set_defaults(func=cmd_tables)


def _add_figures(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench figures``."""
    from ggnbench.report.figure_sets import FIGURE_FORMATS

    p = sub.add_parser(
        "figures",
        help=f"tables to seaborn figures ({names([f.upper() for f in FIGURE_FORMATS], 'and')})",
        description=f"Draw one figure set ({names(FIGURE_SETS)}) from the CSV tables: "
        f"{DEFAULT_FIGURE_SET} unless a flag names another.",
    )
    p.add_argument("--tables", type=Path, required=True, help="tables folder")
    p.add_argument("--out", type=Path, required=True, help="figures folder")
    which = p.add_mutually_exclusive_group()
    for name in FIGURE_SETS:
        if name != DEFAULT_FIGURE_SET:
            shown = FIGURE_SET_HELP.get(name, f"only the figure set {name}")
            which.add_argument(
                _figure_flag(name), dest=name, action="store_true", help=f"draw {shown}"
            )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="FIGURE",
        help="draw only these figures of the set (the workflow names those that apply to its "
        "study: ggnbench.report.figure_sets.applicable)",
    )
    p.set_defaults(func=cmd_figures)


def cmd_summary(args: argparse.Namespace) -> None:
    """Run ``ggnbench summary``."""
    from ggnbench.report import summary

    path = summary.write(args.tables, args.config, args.out)
    print(f"summary -> {path}")


def cmd_report(args: argparse.Namespace) -> None:
    """Run ``ggnbench report``."""
    from ggnbench.report import report

    print(report.make(args.configfile, args.out, args.schema))


def _add_report(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench report``."""
    p = sub.add_parser(
        "report",
        help="the HTML report of what a study has run, whatever is missing, and its results "
        "in a few lines",
        description="Write the study's summary from the tables that exist (naming what is "
        "missing and why), run snakemake --report on the results that exist, and "
        "print the results per problem and the report's path.",
    )
    p.add_argument("--configfile", type=Path, default=Path("config/config.yaml"),
                   help="the study config (config/config.yaml)")  # fmt: skip
    p.add_argument("--out", type=Path, help="the HTML file (RESULTS/report.html)")
    p.add_argument("--schema", type=Path, default=SCHEMA, help="the schema (config/schema.yaml)")
    p.set_defaults(func=cmd_report)


def _add_summary(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench summary``."""
    p = sub.add_parser(
        "summary",
        help="the report's first screen: what ran, on which data, the verdict per optimizer",
        description="Write the reStructuredText summary that snakemake --report opens on.",
    )
    p.add_argument("--tables", type=Path, required=True, help="tables folder")
    p.add_argument(
        "--config", type=json_argument, required=True, help="JSON of the resolved configuration"
    )
    p.add_argument("--out", type=Path, required=True, help="the .rst file to write")
    p.set_defaults(func=cmd_summary)


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


def cmd_download(args: argparse.Namespace) -> None:
    """Run ``ggnbench download``."""
    from ggnbench.workload import data

    record = data.download(
        args.dataset, args.data_root, allow_download=not args.no_download, folder=args.source
    )
    if args.done is not None:
        args.done.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.done.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, args.done)
    origin = record.get("origin") or "already in place"
    print(f"{args.dataset}: ready in {args.data_root} (source: {record['source']}, {origin})")


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


def _add_train(sub: argparse._SubParsersAction) -> None:
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
        choices=list(HOLDOUTS),
        default=defaults.HOLDOUT,
        help="validation holdout: the problem's fixed one, drawn with the seed (per_seed, as "
        f"DeepOBS), or none ({defaults.HOLDOUT})",
    )
    p.add_argument(
        "--evaluation",
        choices=list(EVALUATIONS),
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
        choices=list(DATA_PATHS),
        default=defaults.DATA_PATH,
        help="tensor: splits without augmentation held as one tensor, batches by index; pil: "
        f"torchvision's per-image transforms (bitwise the same batches) ({defaults.DATA_PATH})",
    )
    p.add_argument(
        "--eval-path",
        choices=list(EVAL_PATHS),
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


def cmd_synth_mnist(args: argparse.Namespace) -> None:
    """Run ``ggnbench synth-mnist``."""
    from ggnbench.workload.synthetic import write_mnist

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
    p.add_argument(
        "--folder",
        default="MNIST",
        choices=[d.torchvision for d in DATASETS.values() if d.content is not None],
        help="torchvision's folder of an MNIST-format dataset (MNIST)",
    )
    p.add_argument("--n-train", type=int, default=60000, help="training images (60000)")
    p.add_argument("--n-test", type=int, default=10000, help="test images (10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated data (0)")
    p.set_defaults(func=cmd_synth_mnist)


def _add_download(sub: argparse._SubParsersAction) -> None:
    packages = "; ".join(
        f"{d.name}: Debian's {d.package[0]}" for d in DATASETS.values() if d.package
    )
    sources = [
        f"{s.label} ({packages})" if s.name == "package" else s.label for s in SOURCES.values()
    ]
    p = sub.add_parser(
        "download",
        help="put a dataset into the data root from its sources, its content checked",
        description=f"Put both splits of a dataset ({names(DATASET_NAMES)}) where torchvision "
        "reads them under the data root, from the first of its sources that has it: files "
        f"already there, {', '.join(sources)}. The content is checked first (IDX headers, "
        "sizes, labels per class, SHA-256 where ggnbench ships it); the source and checksums "
        "are recorded beside the files and in every run's run.json.",
    )
    p.add_argument("dataset", choices=list(DATASET_NAMES), help="dataset name")
    p.add_argument("--data-root", type=Path, default=Path("data"), help="dataset folder (data)")
    p.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="DIR",
        help="take the files from this folder (.gz or decompressed; CIFAR: the .tar.gz)",
    )
    p.add_argument("--no-download", action="store_true", help="never use the network")
    p.add_argument(
        "--done", type=Path, help="file to write (the source record, as JSON) once it is ready"
    )
    p.set_defaults(func=cmd_download)


def cmd_bench_suite(args: argparse.Namespace) -> None:
    """Run ``ggnbench bench-suite``."""
    from ggnbench.workflow.benchsuite import run_suite

    selection = [a for a in args.selection if a != "--"]
    unmeasured = run_suite(args.suite, args.out, args.log, selection)
    print(f"benchmark: results in {args.out} (log: {args.log})")
    if unmeasured:
        cases = sorted({u["case"] for u in unmeasured})
        print(
            f"warning: {len(cases)} benchmark case(s) could not be measured (rows 'unmeasured' "
            f"in bench_overhead); first: {cases[0]}: "
            f"{next(u['reason'] for u in unmeasured if u['case'] == cases[0])}",
            file=sys.stderr,
        )


def _add_bench_suite(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench bench-suite``."""
    p = sub.add_parser(
        "bench-suite",
        help="run the overhead benchmark suite (bench/) into a JSON file, recording the "
        "cases that cannot be measured",
        description="Run pytest on the benchmark suite with the given selection; a case that "
        "fails is listed under 'unmeasured' in the JSON with its cause, and the others' "
        "measurements are kept. Example: ggnbench bench-suite --suite bench --out cpu.json "
        "--log cpu.log -- --bench-devices cpu --bench-networks mnist_cnn",
    )
    p.add_argument("--suite", type=Path, required=True, help="the bench/ folder")
    p.add_argument("--out", type=Path, required=True, help="benchmark JSON to write")
    p.add_argument("--log", type=Path, required=True, help="log file for pytest's output")
    p.add_argument("selection", nargs=argparse.REMAINDER, help="-- then the suite's options")
    p.set_defaults(func=cmd_bench_suite)


def data_context(args: argparse.Namespace) -> str:
    """Who reads a command's missing-data message (:data:`missing_hints.CONTEXTS`).

    ``ggnbench download`` takes ``--from``; with ``--done`` it is the workflow's download
    job. ``sweep`` is a workflow job, and so is ``epoch-bench --cases`` (its ``--configfile``
    form is run by hand, as ``train`` is): their reader reruns the workflow.

    Args:
        args: The parsed command line.

    Returns:
        ``download``, ``train`` or ``workflow``.
    """
    if args.command == "download":
        return "workflow" if args.done is not None else "download"
    if args.command == "sweep" or (args.command == "epoch-bench" and args.cases is not None):
        return "workflow"
    return "train"


#: Every ``ggnbench`` subcommand: its name and the function that adds its parser. The one
#: registry of the command line; ``cli.build_parser`` walks it.
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "train": _add_train,
    "download": _add_download,
    "synth-mnist": _add_synth,
    "check-config": _add_check_config,
    "sweep": _add_sweep,
    "epoch-bench": _add_epoch_bench,
    "select-best": _add_select_best,
    "tables": _add_tables,
    "figures": _add_figures,
    "summary": _add_summary,
    "bench-suite": _add_bench_suite,
    "report": _add_report,
}
