"""The reporting commands: ``tables``, ``figures``, ``summary`` and ``report``.

They read a study's results (or its tables) and write what a reader sees of them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ggnbench.commands.common import SCHEMA, names
from ggnbench.report.figure_sets import FIGURE_SETS
from ggnbench.report.tables import json_argument


def add_tables(sub: argparse._SubParsersAction) -> None:
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


def add_figures(sub: argparse._SubParsersAction) -> None:
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


def cmd_figures(args: argparse.Namespace) -> None:
    """Run ``ggnbench figures``."""
    from ggnbench.report.figures.draw import draw

    flagged = [name for name in FIGURE_SETS if getattr(args, name, False)]
    figure_set = flagged[0] if flagged else DEFAULT_FIGURE_SET
    paths = draw(figure_set, args.tables, args.out, args.only)
    print(f"wrote {len(paths)} figure files into {args.out}")


def add_summary(sub: argparse._SubParsersAction) -> None:
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


def cmd_summary(args: argparse.Namespace) -> None:
    """Run ``ggnbench summary``."""
    from ggnbench.report import summary

    path = summary.write(args.tables, args.config, args.out)
    print(f"summary -> {path}")


def add_report(sub: argparse._SubParsersAction) -> None:
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


def cmd_report(args: argparse.Namespace) -> None:
    """Run ``ggnbench report``."""
    from ggnbench.report import report

    print(report.make(args.configfile, args.out, args.schema))
