"""The benchmark's figures: each extension's overhead and peak memory per batch size."""

from __future__ import annotations

import itertools
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ggnbench.report.figures.common import empty_figure, figure_legend, log_if_wide
from ggnbench.report.figures.registry import drawing

#: Width of a group of bars (seaborn's default), which the paper's crosses sit on.
BAR_WIDTH = 0.8


def _case_label(frame: pd.DataFrame) -> pd.Series:
    return frame.network + " / " + frame.device


@drawing("bench_overhead")
def overhead_bars(table: pd.DataFrame) -> plt.Figure:
    """Overhead of each extension per batch size, in the style of the paper's figure.

    Args:
        table: The ``bench_overhead`` table.

    Returns:
        Bars of median time relative to the plain gradient; rows: network and device,
        columns: timed region.
    """
    data = _with_ratio(table)
    if data.empty:
        return empty_figure("no benchmark results")
    data = data.assign(case=_case_label(data), batch=data.batch_size.astype(str))
    order = list(dict.fromkeys(data.extension))
    palette = _batch_palette(data)
    grid = sns.catplot(
        data=data, x="extension", y="ratio", hue="batch", hue_order=list(palette), col="region",
        row="case", kind="bar", errorbar=None, height=3, aspect=2.2, sharey=False,
        palette=palette, order=order, legend=False, saturation=1,
    )  # fmt: skip
    for ax in grid.axes.flat:
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.tick_params(axis="x", rotation=45)
    grid.set_titles("{row_name} | {col_name}")
    grid.set_axis_labels("", "time / plain gradient")
    handles = {size: Patch(color=colour) for size, colour in palette.items()}
    if _paper_marks(grid, data, order):
        handles["the paper's median (GPU)"] = Line2D([], [], color="black", marker="x",
                                                     linestyle="none", markersize=8)  # fmt: skip
    grid.add_legend(legend_data=handles, title="batch size")
    missing = data[data.ratio.isna()]
    if not missing.empty:  # an empty slot says why below the figure
        cases = sorted({f"{r.case} {r.region} {r.extension} b={r.batch_size}"
                        for r in missing.itertuples()})  # fmt: skip
        grid.figure.text(0.01, 0.0, "not measured (bench_overhead's note says why): "
                         + "; ".join(cases), fontsize=8, va="top")  # fmt: skip
    return grid.figure


def _paper_marks(grid: sns.FacetGrid, data: pd.DataFrame, order: list[str]) -> bool:
    """The paper's median ratio as a cross on each bar that has one.

    Returns:
        Whether any was drawn.
    """
    sizes = sorted(data.batch_size.unique())
    width = BAR_WIDTH / len(sizes)  # the bars of one extension, one per batch size
    drawn = False
    for (case, region), ax in grid.axes_dict.items():
        panel = data[(data.case == case) & (data.region == region)]
        for row in panel[panel.paper_ratio.notna()].itertuples():
            x = (
                order.index(row.extension)
                - BAR_WIDTH / 2
                + width * (sizes.index(row.batch_size) + 0.5)
            )
            ax.plot(x, row.paper_ratio, marker="x", color="black", markersize=8, zorder=3)
            drawn = True
    return drawn


def _with_ratio(table: pd.DataFrame) -> pd.DataFrame:
    """The extensions' rows of the regions that have a ratio to the plain gradient.

    Regions without a plain-gradient baseline (an optimizer's ``step``) are left out;
    within the others, a case that could not be measured keeps its row (no ratio).

    Returns:
        The rows to draw.
    """
    rows = table[table.extension != "none"]
    return rows[rows.region.isin(set(rows.region[rows.ratio.notna()]))]


@drawing("bench_overhead_vs_batch")
def overhead_vs_batch(table: pd.DataFrame) -> plt.Figure:
    """How each extension's overhead grows with the batch size, beside the paper's.

    Args:
        table: The ``bench_overhead`` table.

    Returns:
        Rows: network and device; columns: timed region. Lines of the median ratio with
        its conservative quartile band; the paper's medians dashed with crosses, in the
        extension's colour, where it has them.
    """
    data = _with_ratio(table)
    if data.empty:
        return empty_figure("no benchmark results")
    data = data.assign(case=_case_label(data))
    extensions = list(dict.fromkeys(data.extension))
    palette = dict(zip(extensions, sns.color_palette(n_colors=len(extensions)), strict=True))
    cases, regions = list(dict.fromkeys(data.case)), list(dict.fromkeys(data.region))
    fig, axes = plt.subplots(len(cases), len(regions), squeeze=False,
                             figsize=(3.6 * len(regions), 3 * len(cases)))  # fmt: skip
    for (i, case), (j, region) in itertools.product(enumerate(cases), enumerate(regions)):
        ax = axes[i][j]
        panel = data[(data.case == case) & (data.region == region)].sort_values("batch_size")
        for extension, rows in panel.groupby("extension"):
            color = palette[extension]
            ax.plot(rows.batch_size, rows.ratio, color=color, marker="o", markersize=4)
            ax.fill_between(rows.batch_size, rows.ratio_low, rows.ratio_high, alpha=0.15,
                            color=color, linewidth=0)  # fmt: skip
            ax.plot(rows.batch_size, rows.paper_ratio, linestyle="--", marker="x", color=color)
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_xscale("log", base=2)
        ax.set_xticks(
            sorted(set(panel.batch_size)), [str(b) for b in sorted(set(panel.batch_size))]
        )
        ax.minorticks_off()
        log_if_wide(ax, panel.ratio)
        ax.set(title=f"{case} | {region}", xlabel="batch size", ylabel="time / plain gradient")
    fig.tight_layout()
    handles = [Line2D([], [], color=palette[e], marker="o", label=e) for e in extensions]
    handles += [Line2D([], [], color="black", marker="o", label="ours: median, quartile band"),
                Line2D([], [], color="black", linestyle="--", marker="x",
                       label="the paper's median (GPU)")]  # fmt: skip
    figure_legend(fig, handles)
    return fig


@drawing("bench_memory")
def memory_bars(table: pd.DataFrame) -> plt.Figure:
    """Peak memory the backward pass allocates, per extension and batch size.

    Args:
        table: The ``bench_memory`` table.

    Returns:
        Bars per network (columns) and device (rows).
    """
    data = table[table.region == "backward"]
    if data.empty:
        return empty_figure("no backward-only benchmark results")
    palette = _batch_palette(data)
    grid = sns.catplot(
        data=data.assign(batch=data.batch_size.astype(str)), x="extension", y="peak_memory_mb",
        hue="batch", hue_order=list(palette), col="network", row="device", kind="bar",
        errorbar=None, height=3, aspect=1.8, sharey=False, palette=palette, saturation=1,
        legend=False,
    )  # fmt: skip
    grid.tick_params(axis="x", rotation=45)
    grid.set_titles("{col_name} / {row_name}")
    grid.set_axis_labels("", "peak memory allocated [MiB]")
    grid.add_legend(legend_data={b: Patch(color=c) for b, c in palette.items()},
                    title="batch size")  # fmt: skip
    return grid.figure


def _batch_palette(data: pd.DataFrame) -> dict[str, Any]:
    """One colour per batch size (as text, in increasing order) for the benchmark's bars.

    Returns:
        Batch size -> colour.
    """
    sizes = [str(b) for b in sorted(data.batch_size.unique())]
    return dict(zip(sizes, sns.color_palette("crest", len(sizes)), strict=True))
