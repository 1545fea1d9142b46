"""One colour, marker and label per optimizer, the same in every figure.

The optimizers of the registry (:data:`ggnbench.optimizers.optim.OPTIMIZERS`) take the colourblind
palette's colours and the markers in registry order; any other name (a configuration
entry building a class by import path, or a built-in under another key) takes the ones
after them, the names in sorted order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import seaborn as sns

from ggnbench.optimizers.optim import OPTIMIZERS

#: Colourblind-safe colours, in the order optimizers take them.
PALETTE = tuple(sns.color_palette("colorblind"))
#: Markers, in the same order; nine against ten colours: a pair repeats after 90 names.
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*", "<")


@dataclass(frozen=True)
class Style:
    """How figures draw one optimizer.

    Attributes:
        label: Its name in legends and on axes.
        color: RGB colour.
        marker: Matplotlib marker.
    """

    label: str
    color: tuple[float, float, float]
    marker: str


def optimizer_styles(names: Iterable[str]) -> dict[str, Style]:
    """The style of every registry optimizer and of the other names given.

    Args:
        names: Optimizer names as the tables have them (configuration keys).

    Returns:
        Name to style: the registry's names in registry order, then the others sorted.
    """
    order = [*OPTIMIZERS, *sorted(set(names) - set(OPTIMIZERS))]
    return {
        name: Style(
            (OPTIMIZERS[name].label if name in OPTIMIZERS else None) or name,
            PALETTE[i % len(PALETTE)],
            MARKERS[i % len(MARKERS)],
        )
        for i, name in enumerate(order)
    }
