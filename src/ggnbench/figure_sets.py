"""The registry of figure sets: which figures each set draws, from which tables.

Light to import (no plotting library): the workflow takes its figure outputs from here,
and ``ggnbench figures`` (:func:`ggnbench.figures.draw`) draws a set by looking up each
figure's drawing function in :mod:`ggnbench.figures`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every figure is written in these formats.
FIGURE_FORMATS = ("png", "pdf")


@dataclass(frozen=True)
class Figure:
    """One figure of a set.

    Attributes:
        draw: Name of the function in :mod:`ggnbench.figures` that draws it.
        tables: The CSV tables it reads, passed in this order.
    """

    draw: str
    tables: tuple[str, ...]


#: Figure set -> figure name -> figure.
FIGURE_SETS: dict[str, dict[str, Figure]] = {
    "study": {
        "learning_curves": Figure("learning_curves", ("curves",)),
        "lr_damping_heatmap": Figure("lr_damping_heatmap", ("runs",)),
        "accuracy_vs_damping": Figure("accuracy_vs_damping", ("runs",)),
        "time_per_step": Figure("time_per_step", ("runs",)),
    },
    "seed_example": {
        "seed_example": Figure("seed_example", ("seed_example_trace", "seed_example"))
    },
    "paper": {
        "paper_curves": Figure("paper_curves", ("paper_curves",)),
        "paper_epochs": Figure("paper_epochs", ("paper_epochs",)),
    },
    "bench": {
        "bench_overhead": Figure("overhead_bars", ("bench_overhead",)),
        "bench_overhead_vs_batch": Figure("overhead_vs_batch", ("bench_overhead",)),
        "bench_memory": Figure("memory_bars", ("bench_memory",)),
    },
}


def outputs(figure_set: str, folder: str) -> list[str]:
    """Every file a figure set writes into a folder.

    Args:
        figure_set: A key of :data:`FIGURE_SETS`.
        folder: The figures folder.

    Returns:
        The paths, one per figure and format.
    """
    return [f"{folder}/{name}.{ext}" for name in FIGURE_SETS[figure_set] for ext in FIGURE_FORMATS]
