"""The workflow's steps as commands: checking a study, its runs, their timing, the choice.

``check-config`` checks a study's config before the workflow runs it; ``sweep``,
``epoch-bench``, ``select-best`` and ``bench-suite`` are each one kind of workflow job.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ggnbench.checks import values
from ggnbench.commands.common import SCHEMA, names
from ggnbench.errors import GGNBenchError
from ggnbench.report.tables import json_argument
from ggnbench.workflow.epoch_cost import PATHS
from ggnbench.workload.evaluation import EvalPath
from ggnbench.workload.tensordata import DataPath


def add_check_config(sub: argparse._SubParsersAction) -> None:
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


def cmd_check_config(args: argparse.Namespace) -> None:
    """Run ``ggnbench check-config``."""
    from ggnbench.workflow.configcheck import check_file, plan_error

    for path in args.configfile:
        problem = check_file(path, args.schema) or plan_error(path, args.schema)
        if problem is not None:
            raise GGNBenchError(problem.removeprefix("error: "))
        print(f"{path}: valid")


def add_sweep(sub: argparse._SubParsersAction) -> None:
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


def cmd_sweep(args: argparse.Namespace) -> None:
    """Run ``ggnbench sweep``."""
    from ggnbench.run.sweep import sweep

    if not isinstance(args.runs, list):
        raise GGNBenchError("--runs must be a JSON list of {out, config} objects")
    if args.threads is not None:
        for item in args.runs:
            item["config"]["threads"] = args.threads
    sweep(args.runs, args.manifest, args.best)


def add_epoch_bench(sub: argparse._SubParsersAction) -> None:
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
        f"{names(values(DataPath))}, EVAL {names(values(EvalPath))} (--configfile's, else "
        f"{','.join(PATHS)})",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads for every run (the job's)")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write")
    p.set_defaults(func=cmd_epoch_bench)


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


def add_select_best(sub: argparse._SubParsersAction) -> None:
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


def add_bench_suite(sub: argparse._SubParsersAction) -> None:
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
