"""The registry of figure sets: which figures each set draws, from which tables, and when.

Light to import (no plotting library): the workflow takes its figure outputs from here,
and ``ggnbench figures`` (:func:`ggnbench.report.figures.draw.draw`) draws a set with the
drawing function each figure has in its set's module of :mod:`ggnbench.report.figures`
(registered under the figure's name by :func:`ggnbench.report.figures.registry.drawing`).
A figure whose data cannot make its point under a study's configuration (one batch size
for a figure against the batch size, no problem of the paper for the paper's curves) is
left out: the workflow neither declares nor draws it, and the report's summary says why
(:func:`left_out`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ggnbench.report import paper
from ggnbench.workflow import study

#: Every figure is written in these formats.
FIGURE_FORMATS = ("png", "pdf")

#: Why a study's configuration leaves a figure out (one line), or None when it applies.
Check = Callable[[dict[str, Any]], str | None]


def _always(config: dict[str, Any]) -> None:
    """Any study can draw it."""


def _tuned_dampings(config: dict[str, Any]) -> list[set[float]]:
    """The damping values of every tuned optimizer that takes one, per problem."""
    entries = [
        study.entry(config, p, o) for p, o in study.pairs(config) if study.tuned(config, p, o)
    ]
    return [
        set(d) if isinstance(d := e["damping"], list) else {d} for e in entries if "damping" in e
    ]


def _damping_grid(config: dict[str, Any]) -> str | None:
    """The heatmap needs a tuned optimizer with a damping."""
    if not _tuned_dampings(config):
        return "no tuned optimizer of the study takes a damping"
    return None


def _damping_values(config: dict[str, Any]) -> str | None:
    """Accuracy against damping needs two damping values in one tuned grid."""
    if not any(len(values) >= 2 for values in _tuned_dampings(config)):
        return "no optimizer of the study is tuned over two or more damping values"
    return None


def _papers_runs(config: dict[str, Any]) -> str | None:
    """The paper's curves need a problem and optimizer of the study that the paper ran."""
    theirs = paper.curves()
    ran = set(zip(theirs.problem, theirs.optimizer, strict=True))
    if any((p, paper.LABELS.get(o)) in ran for p, o in study.pairs(config)):
        return None
    problems = sorted(set(theirs.problem))
    if not set(config["problems"]) & set(problems):
        return f"no problem of the study is one of the paper's ({', '.join(problems)})"
    return "the paper ran none of the study's optimizers on the study's problems"


def _batch_sizes(config: dict[str, Any]) -> str | None:
    """Overhead against batch size needs two batch sizes."""
    sizes = config["bench"]["batch_sizes"]
    if len(set(sizes)) < 2:
        return f"the benchmark timed one batch size ({sizes[0]}): nothing to draw against it"
    return None


def _backward_region(config: dict[str, Any]) -> str | None:
    """Peak memory is drawn for the backward-only region."""
    if "backward" not in config["bench"]["regions"]:
        return "the benchmark timed no backward-only region (bench.regions)"
    return None


@dataclass(frozen=True)
class Figure:
    """One figure of a set.

    Attributes:
        tables: The CSV tables it reads, passed to its drawing function in this order.
        check: Why a study's configuration leaves it out, or None when it applies.
    """

    tables: tuple[str, ...]
    check: Check = _always


#: Figure set -> figure name -> figure.
FIGURE_SETS: dict[str, dict[str, Figure]] = {
    "study": {
        "learning_curves": Figure(("curves",)),
        "lr_damping_heatmap": Figure(("runs",), _damping_grid),
        "accuracy_vs_damping": Figure(("runs",), _damping_values),
        "time_per_step": Figure(("runs",)),
    },
    "seed_example": {"seed_example": Figure(("seed_example_trace", "seed_example"))},
    "paper": {
        "paper_curves": Figure(("paper_curves",), _papers_runs),
        "paper_epochs": Figure(("paper_epochs",), _papers_runs),
    },
    "bench": {
        "bench_overhead": Figure(("bench_overhead",)),
        "bench_overhead_vs_batch": Figure(("bench_overhead",), _batch_sizes),
        "bench_memory": Figure(("bench_memory",), _backward_region),
    },
}

#: The configuration section whose ``enabled`` switches a figure set on; the others are
#: always drawn.
SWITCHES = {"seed_example": "seed_example", "bench": "bench"}


def applicable(config: dict[str, Any], figure_set: str) -> list[str]:
    """The figures of a set that a study draws.

    Args:
        config: Validated study configuration.
        figure_set: A key of :data:`FIGURE_SETS`.

    Returns:
        Their names, in registry order.
    """
    return [name for name, f in FIGURE_SETS[figure_set].items() if f.check(config) is None]


def left_out(config: dict[str, Any]) -> dict[str, str]:
    """The figures a study leaves out, and why, over the figure sets it draws.

    Args:
        config: Validated study configuration.

    Returns:
        Figure name to a one-line reason, in registry order.
    """
    return {
        name: reason
        for figure_set, figures in FIGURE_SETS.items()
        if figure_set not in SWITCHES or config[SWITCHES[figure_set]]["enabled"]
        for name, figure in figures.items()
        if (reason := figure.check(config)) is not None
    }


def outputs(figure_set: str, folder: str, names: list[str] | None = None) -> list[str]:
    """Every file some figures of a set write into a folder.

    Args:
        figure_set: A key of :data:`FIGURE_SETS`.
        folder: The figures folder.
        names: The figures; None: every figure of the set.

    Returns:
        The paths, one per figure and format.
    """
    names = list(FIGURE_SETS[figure_set]) if names is None else names
    return [f"{folder}/{name}.{ext}" for name in names for ext in FIGURE_FORMATS]
