"""Tables: the registry of table sets, and writing a table in three formats.

Each table set (:data:`TABLE_SETS`) names the tables it writes and the function that
computes them; ``ggnbench tables NAME`` makes one set and the workflow takes its
output lists from here. A table is written as CSV (data), Markdown and LaTeX (reading).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ggnbench.errors import GGNBenchError
from ggnbench.report import aggregate, benchagg, evidence, paper
from ggnbench.run.results import atomic_write_text
from ggnbench.workflow import epoch_cost

FORMATS = ("csv", "md", "tex")


def write_table(frame: pd.DataFrame, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``name.csv``, ``name.md`` and ``name.tex`` atomically.

    Args:
        frame: The table.
        out_dir: Folder.
        name: File stem.

    Returns:
        The written paths.
    """
    out_dir = Path(out_dir)
    shown = frame.copy()
    for column in shown.select_dtypes("float").columns:
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    texts = {
        "csv": frame.to_csv(index=False),
        "md": shown.to_markdown(index=False) + "\n",
        "tex": shown.to_latex(index=False, escape=True),
    }
    paths = []
    for ext in FORMATS:
        path = out_dir / f"{name}.{ext}"
        atomic_write_text(path, texts[ext])
        paths.append(path)
    return paths


@dataclass(frozen=True)
class TableSet:
    """One set of tables, made together by ``ggnbench tables NAME``.

    Attributes:
        tables: Tables written as CSV, Markdown and LaTeX.
        extras: Long-form data written as CSV only (read by the figures).
        build: Computes every table and extra from the set's options, by name.
        help: One line for the command line.
        category: The report's category for the set's tables.
        options: The set's own command-line options: flags and ``argparse`` keywords.
    """

    tables: tuple[str, ...]
    extras: tuple[str, ...]
    build: Callable[..., dict[str, pd.DataFrame]]
    help: str
    category: str
    options: tuple[tuple[str, dict[str, Any]], ...] = ()

    def outputs(self, folder: str | Path) -> list[str]:
        """Every file the set writes into a folder.

        Args:
            folder: The tables folder.

        Returns:
            The paths, tables (in every format) first, then extras.
        """
        return [f"{folder}/{t}.{ext}" for t in self.tables for ext in FORMATS] + [
            f"{folder}/{e}.csv" for e in self.extras
        ]


def json_argument(text: str) -> object:
    """A JSON command-line value."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err.msg}") from err


#: Every table set, by the name ``ggnbench tables`` and the workflow use.
TABLE_SETS: dict[str, TableSet] = {
    "study": TableSet(
        tables=("runs", "final_metrics", "time_per_step", "time_to_target", "diverged"),
        extras=("curves",),
        build=aggregate.study_tables,
        help="study results: runs, final metrics, time per step, time to target, diverged",
        category="Tables",
        options=(
            ("--tune", {"nargs": "*", "default": [], "help": "tuning manifests"}),
            ("--final", {"nargs": "*", "default": [], "help": "final-seed manifests"}),
            ("--targets", {"type": json_argument, "default": {},
                           "help": 'JSON {"problem": target valid accuracy}'}),
        ),
    ),
    "paper": TableSet(
        tables=("paper_comparison", "paper_epochs", "paper_epochs_summary"),
        extras=("paper_curves",),
        build=paper.tables,
        help="our final accuracies and curves beside the paper's published ones, epoch by epoch",
        category="The paper",
        options=(
            ("--tables", {"type": Path, "required": True,
                          "help": "folder with final_metrics, curves and runs"}),
            ("--tolerance", {"type": json_argument, "default": None,
                             "help": 'JSON {"accuracy": a, "loss": l}: widening of the '
                                     "paper's quartile band (paper_epochs)"}),
        ),
    ),
    "seed-example": TableSet(
        tables=("seed_example",),
        extras=("seed_example_trace",),
        build=aggregate.seed_example_tables,
        help="the reference example's trace beside the published numbers",
        category="Reference example",
        options=(
            ("--run", {"nargs": "+", "required": True, "help": "VARIANT=RUN_FOLDER pairs"}),
            ("--published", {"type": json_argument, "required": True,
                             "help": "JSON {step, loss, accuracy} lists"}),
            ("--data-label", {"default": "MNIST", "help": "which data the runs used"}),
        ),
    ),
    "bench": TableSet(
        tables=("bench_overhead", "bench_memory", "bench_optimizer_step", "bench_backend_race"),
        extras=(),
        build=benchagg.tables,
        help="pytest-benchmark JSON: overhead, memory, optimizer step, backend race",
        category="Benchmark",
        options=(("--json", {"nargs": "+", "required": True,
                             "help": "pytest-benchmark JSON files"}),),
    ),
    "epoch": TableSet(
        tables=("epoch_cost", "epoch_speedup", "epoch_panel"),
        extras=(),
        build=epoch_cost.tables,
        help="end-to-end cost: per epoch and run, paths side by side, panel and study totals",
        category="Benchmark",
        options=(("--csv", {"nargs": "+", "required": True,
                            "help": "ggnbench epoch-bench measurements"}),),
    ),
    "evidence": TableSet(
        tables=("config", "provenance", "job_runtimes"),
        extras=(),
        build=evidence.tables,
        help="the report's evidence: resolved configuration, provenance, job runtimes per rule",
        category="Evidence",
        options=(
            ("--config", {"type": json_argument, "required": True,
                          "help": "JSON of the resolved study configuration"}),
            ("--runs-table", {"type": Path, "help": "the study's runs.csv (its run folders)"}),
            ("--run", {"nargs": "*", "default": [], "help": "further run folders"}),
            ("--benchmark", {"nargs": "*", "default": [],
                             "help": "RULE=FILE: a job's snakemake benchmark file"}),
        ),
    ),
}  # fmt: skip


def make(name: str, out_dir: str | Path, **options: Any) -> list[Path]:
    """Compute every table of a set, then write them (nothing is written on a failure).

    Args:
        name: Table set name (a key of :data:`TABLE_SETS`).
        out_dir: The tables folder.
        **options: The set's options (see ``TableSet.options``).

    Returns:
        The written paths.

    Raises:
        GGNBenchError: On an unknown set, or a builder that misses a table.
    """
    if name not in TABLE_SETS:
        raise GGNBenchError(f"unknown table set {name!r}; choose one of {list(TABLE_SETS)}")
    table_set = TABLE_SETS[name]
    frames = table_set.build(**options)
    expected = set(table_set.tables) | set(table_set.extras)
    if set(frames) != expected:
        raise GGNBenchError(f"table set {name!r} built {sorted(frames)}, not {sorted(expected)}")
    paths = []
    for table in table_set.tables:
        paths += write_table(frames[table], out_dir, table)
    for extra in table_set.extras:
        path = Path(out_dir) / f"{extra}.csv"
        atomic_write_text(path, frames[extra].to_csv(index=False))
        paths.append(path)
    return paths
