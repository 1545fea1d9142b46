"""Workflow subcommands: sweep, select-best, aggregate, seed-example-table, figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ggnbench.errors import GGNBenchError


def _json_arg(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err.msg}") from err


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


def cmd_aggregate(args: argparse.Namespace) -> None:
    """Run ``ggnbench aggregate``."""
    from ggnbench import aggregate
    from ggnbench.results import atomic_write_text
    from ggnbench.tables import write_table

    runs = aggregate.collect_runs(args.tune, args.final)
    curves = aggregate.load_curves(runs)
    # Everything is computed before anything is written: a failure leaves no half set.
    tables = {
        "runs": runs,
        "final_metrics": aggregate.final_metrics(runs),
        "time_per_step": aggregate.time_per_step(runs),
        "time_to_target": aggregate.time_to_target(curves, args.targets),
        "diverged": aggregate.diverged_counts(runs),
    }
    for name, frame in tables.items():
        write_table(frame, args.out, name)
    atomic_write_text(Path(args.out) / "curves.csv", curves.to_csv(index=False))
    print(f"aggregated {len(runs)} runs into {args.out}")


def cmd_seed_example_table(args: argparse.Namespace) -> None:
    """Run ``ggnbench seed-example-table``."""
    from ggnbench import aggregate
    from ggnbench.results import atomic_write_text
    from ggnbench.tables import write_table

    bad = [item for item in args.run if "=" not in item]
    if bad:
        raise GGNBenchError(f"--run takes VARIANT=RUN_FOLDER pairs, got {bad}")
    run_dirs = dict(item.split("=", 1) for item in args.run)
    table, trace = aggregate.seed_example(run_dirs, args.published, args.data_label)
    write_table(table, args.out, "seed_example")
    atomic_write_text(Path(args.out) / "seed_example_trace.csv", trace.to_csv(index=False))
    print(table.to_string(index=False))


def cmd_paper_tables(args: argparse.Namespace) -> None:
    """Run ``ggnbench paper-tables``."""
    import pandas as pd

    from ggnbench import paper
    from ggnbench.results import atomic_write_text
    from ggnbench.tables import write_table

    tables = Path(args.tables)
    final = pd.read_csv(tables / "final_metrics.csv")
    curves = paper.comparison_curves(
        pd.read_csv(tables / "curves.csv"), pd.read_csv(tables / "runs.csv")
    )
    comparison = paper.comparison(final)
    write_table(comparison, args.out, "paper_comparison")
    atomic_write_text(Path(args.out) / "paper_curves.csv", curves.to_csv(index=False))
    print(f"{len(comparison)} rows beside the paper's numbers -> {args.out}")


def cmd_bench_tables(args: argparse.Namespace) -> None:
    """Run ``ggnbench bench-tables``."""
    from ggnbench import benchagg
    from ggnbench.tables import write_table

    frame = benchagg.load_benchmarks(args.json)
    if frame.empty:
        raise GGNBenchError(f"no benchmarks in {args.json}; every combination was skipped")
    tables = {
        "bench_overhead": benchagg.overhead(frame),
        "bench_memory": benchagg.memory(frame),
        "bench_optimizer_step": benchagg.optimizer_step(frame),
        "bench_backend_race": benchagg.backend_race(args.json),
    }
    for name, table in tables.items():
        write_table(table, args.out, name)
    print(f"{len(frame)} benchmarks -> {args.out}")


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
    p.add_argument("--runs", type=_json_arg, required=True, help="JSON list of {out, config}")
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

    p = sub.add_parser(
        "aggregate",
        help="results to tables (runs, final metrics, time per step, time to target, diverged)",
        description="Read the runs listed in the manifests (refusing any whose configuration "
        "differs from the plan) and write tables as CSV, Markdown and LaTeX.",
    )
    p.add_argument("--tune", nargs="*", default=[], help="tuning manifests")
    p.add_argument("--final", nargs="*", default=[], help="final-seed manifests")
    p.add_argument(
        "--targets", type=_json_arg, default={}, help='JSON {"problem": target valid accuracy}'
    )
    p.add_argument("--out", type=Path, required=True, help="tables folder")
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser(
        "seed-example-table",
        help="the reference example's trace beside the published numbers",
        description="Tabulate the reference example's runs at the published steps.",
    )
    p.add_argument("--run", nargs="+", required=True, help="VARIANT=RUN_FOLDER pairs")
    p.add_argument(
        "--published", type=_json_arg, required=True, help="JSON {step, loss, accuracy} lists"
    )
    p.add_argument("--data-label", default="MNIST", help="which data the runs used")
    p.add_argument("--out", type=Path, required=True, help="tables folder")
    p.set_defaults(func=cmd_seed_example_table)

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

    p = sub.add_parser(
        "paper-tables",
        help="our final accuracies and curves beside the paper's published ones",
        description="Read final_metrics, curves and runs from TABLES and write "
        "paper_comparison (csv, md, tex) and paper_curves.csv into OUT.",
    )
    p.add_argument("--tables", type=Path, required=True, help="tables folder (input)")
    p.add_argument("--out", type=Path, required=True, help="tables folder (output)")
    p.set_defaults(func=cmd_paper_tables)

    p = sub.add_parser(
        "bench-tables",
        help="pytest-benchmark JSON to overhead, memory and optimizer-step tables",
        description="Divide each extension's median time by the plain gradient's from the "
        "same session and write bench_overhead, bench_memory, bench_optimizer_step and "
        "bench_backend_race (native/BackPACK in interleaved rounds; empty without a race).",
    )
    p.add_argument("--json", nargs="+", required=True, help="pytest-benchmark JSON files")
    p.add_argument("--out", type=Path, required=True, help="tables folder")
    p.set_defaults(func=cmd_bench_tables)
