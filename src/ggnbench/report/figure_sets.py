"""The registry of figure sets: which figures, from which tables, when, and their captions.

Light to import (no plotting library): the workflow takes its figure outputs from here,
and ``ggnbench figures`` (:func:`ggnbench.report.figures.draw.draw`) draws a set with the
drawing function each figure has in its set's module of :mod:`ggnbench.report.figures`
(registered under the figure's name by :func:`ggnbench.report.figures.registry.drawing`).
A figure whose data cannot make its point under a study's configuration (one batch size
for a figure against the batch size, no problem of the paper for the paper's curves) is
left out: the workflow neither declares nor draws it, and the report's summary says why
(:func:`left_out`). A figure's caption, the text the report shows under it, is part of its
entry too.
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
        caption: What the report says under it: reStructuredText, which snakemake's
            report renders through Jinja2 (``{{ snakemake.config[...] }}`` is the study's
            configuration); the workflow hands it to ``report()``
            (``figure_outputs`` in ``rules/common.smk``).
        check: Why a study's configuration leaves it out, or None when it applies.
    """

    tables: tuple[str, ...]
    caption: str
    check: Check = _always


#: Figure set -> figure name -> figure.
FIGURE_SETS: dict[str, dict[str, Figure]] = {
    "study": {
        "learning_curves": Figure(
            ("curves",),
            "Learning curves over the final seeds, per problem and device: median with "
            "interquartile band of the minibatch train loss (each run smoothed by a rolling "
            "median, its window in steps in the axis label; logarithmic where it spans a decade or "
            "more), validation and test accuracy (the axis zoomed to where the curves run after "
            "the first evaluation: the untrained network and the first steps may lie below). One "
            "colour and marker per optimizer, the same in every figure.",
        ),
        "lr_damping_heatmap": Figure(
            ("runs",),
            "Final validation accuracy of each grid point (learning rate x damping, tuning seed) "
            "of every tuned optimizer with a damping, on one colour scale spanning the finished "
            "runs; hatched cells (div.) diverged, grey cells did not run.",
            _damping_grid,
        ),
        "accuracy_vs_damping": Figure(
            ("runs",),
            "Sensitivity to damping: the best final validation accuracy over learning rates for "
            "each damping value, one line per optimizer in its colour and marker.",
            _damping_values,
        ),
        "time_per_step": Figure(
            ("runs",),
            "Time per training step of each optimizer in its colour (median over final seeds, "
            "whiskers: quartiles; logarithmic where the times span a decade or more), the devices "
            "side by side, hatched per device, when more than one ran.",
        ),
    },
    "seed_example": {
        "seed_example": Figure(
            ("seed_example_trace", "seed_example"),
            "BackPACK's DiagGGN example, published (lr 0.01, gradients kept) and corrected (lr "
            "0.05, gradients zeroed): minibatch loss and accuracy per iteration; crosses mark the "
            "published output.",
        ),
    },
    "paper": {
        "paper_curves": Figure(
            ("paper_curves",),
            "Our final-seed learning curves (solid) against the paper's (dashed, from "
            "reference/paper): test and train-eval accuracy and loss per epoch, medians with "
            "quartile bands; the same colour is the same optimizer (SGD: the paper's Momentum). "
            "Where our runs are shorter than the paper's, its curves are drawn only to just past "
            'our last epoch, as the epoch axis says (e.g. "the paper\'s first 4 of 100"). Drawn '
            "when the study runs a problem and optimizer of the paper.",
            _papers_runs,
        ),
        "paper_epochs": Figure(
            ("paper_epochs",),
            "Our runs epoch by epoch against the paper's curves, drawn relative to the paper's "
            "median: per optimizer and epoch the paper's quartile band (thick bar) and that band "
            "widened by the tolerance of paper_band_tolerance (thin line); our median over the "
            "final seeds as a point in the optimizer's colour and marker with our quartiles as "
            "bars, hollow where it lies outside the widened band. Drawn when the study runs a "
            "problem and optimizer of the paper.",
            _papers_runs,
        ),
    },
    "bench": {
        "bench_overhead": Figure(
            ("bench_overhead",),
            "Overhead of each BackPACK extension relative to the plain gradient, per batch size "
            "(bars), by timed region: backward only, forward+backward, and the paper's timed call "
            "(paper_call). Crosses: the paper's median ratio, measured on a GPU, beside ours in "
            "the region that repeats its call; on a CPU the extensions' extra work weighs more "
            "against a cheaper plain gradient. Regions without a plain-gradient baseline (an "
            "optimizer's step) are in bench_optimizer_step; a case that could not be measured is a "
            "row 'unmeasured' of bench_overhead, with its cause.",
        ),
        "bench_overhead_vs_batch": Figure(
            ("bench_overhead",),
            "Overhead against batch size: medians with conservative quartile bands per extension; "
            "dashed lines with crosses, in the extension's colour, are the paper's published "
            "medians (GPU) where they apply (3C3D). Drawn when the benchmark times two or more "
            "batch sizes.",
            _batch_sizes,
        ),
        "bench_memory": Figure(
            ("bench_memory",),
            "Peak memory allocated by the backward pass per extension and batch size.",
            _backward_region,
        ),
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
