"""The registry of drawing functions: one per figure of the figure sets, under its name.

Each figure set's module registers its functions with :func:`drawing`;
:mod:`ggnbench.report.figures.draw` imports every such module before it reads
:data:`DRAWINGS`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import matplotlib.pyplot as plt

from ggnbench.errors import GGNBenchError
from ggnbench.report.figure_sets import FIGURE_SETS

#: Figure name -> the function that draws it from its tables (see :func:`drawing`).
DRAWINGS: dict[str, Callable[..., plt.Figure]] = {}


def drawing(name: str) -> Callable[[Callable[..., plt.Figure]], Callable[..., plt.Figure]]:
    """Register the decorated function as the one that draws the registry's figure ``name``.

    Args:
        name: A figure of :data:`~ggnbench.report.figure_sets.FIGURE_SETS`.

    Returns:
        The decorator, which returns the function unchanged.

    Raises:
        GGNBenchError: If the registry has no such figure, it already has a drawing, or
            the function does not take the figure's tables one by one.
    """

    def register(function: Callable[..., plt.Figure]) -> Callable[..., plt.Figure]:
        # The registry as it is now: an entry added after this module was imported counts.
        figures = {n: f for figure_set in FIGURE_SETS.values() for n, f in figure_set.items()}
        if name not in figures or name in DRAWINGS:
            raise GGNBenchError(f"{function.__name__}: no figure {name!r} left to draw")
        if len(inspect.signature(function).parameters) != len(figures[name].tables):
            raise GGNBenchError(f"{function.__name__} must take the tables of {name!r}")
        DRAWINGS[name] = function
        return function

    return register
