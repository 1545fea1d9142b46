"""Tables: the registry of table sets, and writing a table in three formats.

Each table set (:data:`TABLE_SETS`) names the tables it writes, with their captions, and
the function that computes them; ``ggnbench tables NAME`` makes one set and the workflow
takes its output lists and the report's captions from here. A table is written as CSV
(data), Markdown and LaTeX (reading).
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
        tables: Tables written as CSV, Markdown and LaTeX, in this order, each with its
            caption in the report (reStructuredText, rendered through Jinja2 as a figure's:
            :class:`ggnbench.report.figure_sets.Figure`).
        extras: Long-form data written as CSV only (read by the figures).
        build: Computes every table and extra from the set's options, by name.
        help: One line for the command line.
        category: The report's category for the set's tables.
        options: The set's own command-line options: flags and ``argparse`` keywords.
    """

    tables: dict[str, str]
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
        tables={
            "runs": (
                "All runs of the study, one row each: stage (tune/final), grid point, seed, status "
                "(ok or diverged) and final metrics."
            ),
            "final_metrics": (
                "Final validation and test accuracy and loss over the final seeds per problem, "
                "optimizer and device: median with quartiles, and mean with a 95% bootstrap "
                "confidence interval."
            ),
            "time_per_step": (
                "Time per training step (median over final seeds of each run's median), the "
                "optimizer's own step() share, and the ratio to SGD on the same device."
            ),
            "time_to_target": (
                "Steps and seconds until the validation accuracy first reaches the problem's "
                "configured target; runs that never reach it are counted as not reached."
            ),
            "diverged": (
                "Diverged runs (non-finite loss) per grid point in tuning and per best point over "
                "the final seeds."
            ),
        },
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
        tables={
            "paper_comparison": (
                "Final test accuracy of each optimizer beside the paper's (Dangel, Kunstner & "
                "Hennig, ICLR 2020; numbers from reference/paper): medians and quartiles over "
                "seeds, whether each median lies in the other's interquartile range, both best "
                "settings, the epochs of both, and a one-word verdict (agrees, higher, lower; "
                "shorter where our runs stop before the paper's last epoch, which they then cannot "
                "be held to: see paper_epochs)."
            ),
            "paper_epochs": (
                "Ours beside the paper's learning curves (reference/paper), epoch by epoch and "
                "metric by metric: our median and quartiles over the final seeds, the paper's "
                "median and quartiles over ten seeds, and whether our median lies inside the "
                "paper's quartile band widened by the stated tolerance (config key "
                "paper_band_tolerance); verdict inside, above or below."
            ),
            "paper_epochs_summary": (
                "One verdict per optimizer from the per-epoch comparison with the paper: how many "
                "epoch-metric rows lie inside the paper's widened quartile band, which lie outside "
                "(metric, epoch: above or below), and agrees (all inside) or differs. README, "
                "\"What has run on real data\", gives the causes found."
            ),
        },
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
        tables={
            "seed_example": (
                "BackPACK's DiagGGN example at iterations 0/50/100/150/200, beside its published "
                "output (lr 0.01, damping 1.0, gradients never zeroed); the column data names the "
                "data the runs used."
            ),
        },
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
        tables={
            "bench_overhead": (
                "Backward overhead: median time of each BackPACK extension divided by the plain "
                "gradient's median from the same session, with a conservative quartile interval, "
                "per network, batch size, device and timed region; paper_ratio holds the paper's "
                "published 3C3D medians."
            ),
            "bench_memory": (
                "Peak tensor memory allocated by each timed call (on top of what existed before "
                "it), per extension, and its ratio to the plain gradient."
            ),
            "bench_optimizer_step": (
                "The DiagGGN optimizer's own step(): median time, its fraction of a whole "
                "iteration, and the time it adds to forward+backward with the curvature extension."
            ),
            "bench_backend_race": (
                "ggnbench's native GGN diagonal against BackPACK's: forward+backward timed in "
                "interleaved rounds (each round runs the plain gradient, BackPACK's extension and "
                "the native one once, in rotated order); the paired per-round ratio "
                "native/BackPACK (median and quartiles), the goal, and both peak memories."
            ),
        },
        extras=(),
        build=benchagg.tables,
        help="pytest-benchmark JSON: overhead, memory, optimizer step, backend race",
        category="Benchmark",
        options=(("--json", {"nargs": "+", "required": True,
                             "help": "pytest-benchmark JSON files"}),),
    ),
    "epoch": TableSet(
        tables={
            "epoch_cost": (
                "End-to-end cost of a run, per data/evaluation path (``pil/exact``: torchvision's "
                "per-image transforms and one forward pass per loader batch, as runs were made "
                "before; ``tensor/fast``: the defaults). Per case a run of a few training steps on "
                "the problem's data and one evaluation of every split, through the training loop "
                "itself, the paths interleaved round after round: median step (its data fetch and "
                "the optimizer's own step within it), one evaluation, the set-up (data loading, "
                "model), and from them one epoch (median and IQR over rounds) and one run of the "
                "study's length in hours. ``dominant`` is the largest part of that run: the steps' "
                "compute, the data (fetch and set-up), or evaluation."
            ),
            "epoch_speedup": (
                "Each path against the reference path (the first listed), round by round on the "
                "same case: median of the paired ratios of epoch time (with its IQR), step time, "
                "evaluation time and set-up time. Below 1 is faster than the reference. The paths "
                "give the same training bitwise and the same evaluation to float32 rounding."
            ),
            "epoch_panel": (
                "What the study costs from the end-to-end measurements, per problem and in all, "
                "per device and path: the final seeds of every optimizer on a problem (its panel, "
                "``final_h``) and tuning plus final runs (``study_h``), in core-hours on a CPU "
                "(one thread per run) or device-hours on a GPU."
            ),
        },
        extras=(),
        build=epoch_cost.tables,
        help="end-to-end cost: per epoch and run, paths side by side, panel and study totals",
        category="Benchmark",
        options=(("--csv", {"nargs": "+", "required": True,
                            "help": "ggnbench epoch-bench measurements"}),),
    ),
    "evidence": TableSet(
        tables={
            "config": (
                "The study's configuration as the workflow ran it: every key of the config file "
                "with the schema's defaults filled in, one row per leaf (``optimizers/sgd/lr``), "
                "values in JSON. An optimizer named by import path shows its ``class`` here."
            ),
            "provenance": (
                "Where the runs ran: one row per distinct setting of Python and package versions "
                "(ggnbench, torch, torchvision, BackPACK, pandas, Snakemake), git commit and "
                "uncommitted changes (``git_dirty``), CPU, GPU, CUDA runtime, driver and platform, "
                "with the number of runs (the study's and the reference example's) that share it. "
                "For an optimizer named by import path, its class and where it came from: the "
                "installed distribution and version, or the module file and the start of its "
                "SHA-256."
            ),
            "job_runtimes": (
                "Wall time and memory of the workflow's jobs per rule, from Snakemake's "
                "``benchmark`` files: number of jobs, total, median and longest wall time, total "
                "CPU time and the largest resident memory (MB). The rules that only read results "
                "(tables, figures) take seconds and have no benchmark file."
            ),
        },
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
