"""Workflow subcommands: check-config, sweep, select-best, tables, figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from ggnbench.errors import GGNBenchError
from ggnbench.tables import json_argument


def cmd_sweep(args: argparse.Namespace) -> None:
    """Run ``ggnbench sweep``."""
    from ggnbench.sweep import sweep

    if not isinstance(args.runs, list):
        raise GGNBenchError("--runs must be a JSON list of {out, config} objects")
    if args.threads is not None:
        for item in args.runs:
            item["config"]["threads"] = args.threads
    sweep(args.runs, args.manifest, args.best)


def cmd_select_best(args: argparse.Namespace) -> None:
    """Run ``ggnbench select-best``."""
    from ggnbench.results import atomic_write_json
    from ggnbench.select import select_best

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
    from ggnbench import tables

    options = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command", "func", "set", "out")
    }
    paths = tables.make(args.set, args.out, **options)
    print(f"table set {args.set}: wrote {len(paths)} files into {args.out}")


def cmd_figures(args: argparse.Namespace) -> None:
    """Run ``ggnbench figures``."""
    from ggnbench import figures

    figure_set = (
        "seed_example" if args.seed_example
        else "bench" if args.bench
        else "paper" if args.paper
        else "study"
    )  # fmt: skip
    paths = figures.draw(figure_set, args.tables, args.out)
    print(f"wrote {len(paths)} figure files into {args.out}")


def cmd_check_config(args: argparse.Namespace) -> None:
    """Run ``ggnbench check-config``."""
    from ggnbench.configcheck import check_file

    for path in args.configfile:
        problem = check_file(path, args.schema)
        if problem is not None:
            raise GGNBenchError(problem.removeprefix("error: "))
        print(f"{path}: valid")


def add_all(sub: argparse._SubParsersAction) -> None:
    """Register the workflow subcommands.

    Args:
        sub: The subparsers of the main parser.
    """
    p = sub.add_parser(
        "check-config",
        help="check study config files (YAML syntax and schema) with a one-line verdict",
        description="Read each config file as YAML and validate it against the schema, "
        "naming the file and line of a syntax error or the key of an invalid value.",
    )
    p.add_argument("configfile", nargs="+", type=Path, help="config files to check")
    p.add_argument(
        "--schema",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "config" / "schema.yaml",
        help="the schema (config/schema.yaml of this checkout)",
    )
    p.set_defaults(func=cmd_check_config)

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

    p = sub.add_parser(
        "select-best",
        help="choose the best grid point from tuning manifests",
        description="Rank tuning runs by final validation accuracy (diverged runs excluded) "
        "and write best.json with the choice and the runner-up.",
    )
    p.add_argument("--manifests", nargs="+", required=True, help="tuning manifests")
    p.add_argument("--out", type=Path, required=True, help="best.json to write")
    p.set_defaults(func=cmd_select_best)

    from ggnbench.tables import TABLE_SETS

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

    p = sub.add_parser(
        "figures",
        help="tables to seaborn figures (PNG and PDF)",
        description="Draw the study's figures from the CSV tables.",
    )
    p.add_argument("--tables", type=Path, required=True, help="tables folder")
    p.add_argument("--out", type=Path, required=True, help="figures folder")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--seed-example", action="store_true", help="draw only the reference example's figure"
    )
    which.add_argument("--bench", action="store_true", help="draw only the benchmark's figures")
    which.add_argument(
        "--paper", action="store_true", help="draw only the comparison with the paper's curves"
    )
    p.set_defaults(func=cmd_figures)
