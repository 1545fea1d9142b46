"""What the figures of every set share: axis scales, median bands, legends, empty figures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ggnbench.report.styles import Style

#: A loss, time or ratio axis is logarithmic where its values span this factor or more.
LOG_SPAN = 10.0
#: A logarithmic axis spanning fewer decades than this is labelled with plain numbers.
PLAIN_DECADES = 2
#: An accuracy (a linear loss) axis spans the medians after the first evaluation from this
#: quantile of them up (down) to the best one: the untrained network and the first steps
#: lie outside, the curves fill the axis.
ZOOM_QUANTILE = 0.1
#: Points after the first evaluation a curve needs before its axis is zoomed past it.
ZOOM_MIN_POINTS = 2
#: Markers on a line, spaced this far apart (a share of the axes' diagonal).
MARKER_SPACING = 0.1
#: At most this many entries in a row of a legend (the rows balanced).
LEGEND_COLUMNS = 5


def empty_figure(message: str) -> plt.Figure:
    """A small figure that only says why there is nothing to draw."""
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def log_if_wide(ax: plt.Axes, values: pd.Series) -> bool:
    """Make the y axis logarithmic where the positive values span :data:`LOG_SPAN`.

    Returns:
        Whether it did.
    """
    positive = values[np.isfinite(values) & (values > 0)]
    wide = bool(len(positive)) and positive.max() >= LOG_SPAN * positive.min()
    if wide:
        ax.set_yscale("log")
        if positive.max() < LOG_SPAN**PLAIN_DECADES * positive.min():
            # Within a few decades, plain numbers (3, 10, 40) read better than powers of
            # ten; matplotlib picks the minor ticks worth a label.
            ax.yaxis.set_major_formatter(mticker.LogFormatter())
            ax.yaxis.set_minor_formatter(mticker.LogFormatter(labelOnlyBase=False))
    return wide


def fit_axis(ax: plt.Axes, quantity: str, x: pd.Series, medians: pd.Series) -> None:
    """A loss axis logarithmic where it spans decades; else zoomed (:data:`ZOOM_QUANTILE`).

    The zoom leaves out the first evaluation (the untrained network) where the curves have
    at least :data:`ZOOM_MIN_POINTS` points after it; with fewer, the whole range shows.
    """
    if quantity == "loss" and log_if_wide(ax, medians):
        return
    later = medians[(x > x.min()) & np.isfinite(medians)]
    if later.empty or x[x > x.min()].nunique() < ZOOM_MIN_POINTS:
        return
    accuracy = quantity == "accuracy"
    low, high = (
        (later.quantile(ZOOM_QUANTILE), later.max()) if accuracy
        else (later.min(), later.quantile(1 - ZOOM_QUANTILE))
    )  # fmt: skip
    pad = max(0.05 * (high - low), 0.005)
    ax.set_ylim(max(low - pad, 0.0), min(high + pad, 1.0) if accuracy else high + pad)


def median_band(ax: plt.Axes, x: pd.Series, stats: pd.DataFrame, style: Style, **line: Any) -> None:
    """A median line with its quartile band, in an optimizer's colour and marker."""
    ax.plot(x, stats["median"], color=style.color, marker=style.marker, markersize=4,
            markevery=MARKER_SPACING, label=style.label, **line)  # fmt: skip
    ax.fill_between(x, stats.q1, stats.q3, color=style.color, alpha=0.15, linewidth=0)


def legend_handle(style: Style, label: str | None = None) -> Line2D:
    """A legend entry in an optimizer's colour and marker, under its label or another."""
    return Line2D([], [], color=style.color, marker=style.marker, label=label or style.label)


def figure_legend(fig: plt.Figure, handles: list[Any]) -> None:
    """One legend for the whole figure, below its panels (none without handles)."""
    if not handles:
        return
    rows = -(-len(handles) // LEGEND_COLUMNS)
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=-(-len(handles) // rows), frameon=False)  # fmt: skip


def in_registry_order(styles: dict[str, Style], names: pd.Series) -> list[str]:
    """The optimizers among the names, in the order of their styles (the registry's)."""
    return [name for name in styles if name in set(names)]
