"""The paper's figures: our curves beside the paper's, and ours against its quartile bands."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D

from ggnbench.report.figures.common import (
    empty_figure,
    figure_legend,
    fit_axis,
    in_registry_order,
    legend_handle,
    median_band,
)
from ggnbench.report.figures.registry import drawing
from ggnbench.report.paper import LABELS, METRICS
from ggnbench.report.styles import optimizer_styles

#: The paper's curves are drawn this many epochs past our last one, where ours are shorter.
PAPER_EXTRA_EPOCHS = 1
#: Line styles of our devices, in the order they appear; the paper's curves are dashed.
DEVICE_LINES = ("-", "-.", ":")

#: The paper's optimizer labels (the paper tables' ``optimizer``) to our registry names.
PAPER_NAMES = {label: name for name, label in LABELS.items()}

#: The paper's curve metrics, in panel order, with their axis labels.
PAPER_PANELS = {
    "test_accuracies": "test accuracy",
    "test_losses": "test loss",
    "train_accuracies": "train-eval accuracy",
    "train_losses": "train-eval loss",
}


def _paper_grid(table: pd.DataFrame) -> tuple[plt.Figure, list, pd.DataFrame]:
    """A grid of panels, problems by the paper's metrics, for a table named in paper labels.

    Returns:
        The figure, ``(axes, problem, metric, rows of the table)`` per panel, and the table
        with our registry names for the paper's optimizer labels.
    """
    table = table.assign(optimizer=table.optimizer.map(PAPER_NAMES))
    problems = list(dict.fromkeys(table.problem))
    metrics = [m for m in PAPER_PANELS if m in set(table.metric)]
    fig, axes = plt.subplots(
        len(problems), len(metrics), figsize=(3.6 * len(metrics), 3.1 * len(problems)),
        squeeze=False,
    )  # fmt: skip
    panels = [
        (axes[i][j], problem, metric,
         table[(table.problem == problem) & (table.metric == metric)])
        for i, problem in enumerate(problems)
        for j, metric in enumerate(metrics)
    ]  # fmt: skip
    return fig, panels, table


@drawing("paper_curves")
def paper_curves(curves: pd.DataFrame) -> plt.Figure:
    """Ours against the paper's curves: medians with quartile bands, the paper's dashed.

    Where our runs are shorter than the paper's, its curves are drawn only up to
    :data:`PAPER_EXTRA_EPOCHS` past our last epoch, and the epoch axis says so.

    Args:
        curves: The ``paper_curves`` table.

    Returns:
        Rows: problems (ours on each device); columns: test and train-eval accuracy and
        loss (accuracy zoomed to the curves, loss logarithmic where it spans decades).
    """
    if curves.empty:
        return empty_figure("no problem and optimizer of the paper among the final runs")
    fig, panels, curves = _paper_grid(curves)
    styles = optimizer_styles(curves.optimizer)
    ours = curves[curves.source == "ours"]
    lines = dict(zip(dict.fromkeys(ours.device), DEVICE_LINES, strict=False))
    for ax, problem, metric, panel in panels:
        last, total = ours[ours.problem == problem].epoch.max(), panel.epoch.max()
        shown = panel[(panel.source == "ours") | (panel.epoch <= last + PAPER_EXTRA_EPOCHS)]
        for (source, optimizer, device), rows in shown.groupby(["source", "optimizer", "device"]):
            rows = rows.sort_values("epoch")
            median_band(ax, rows.epoch, rows, styles[optimizer],
                        linestyle="--" if source == "paper" else lines[device])  # fmt: skip
        fit_axis(ax, METRICS[metric][1], shown.epoch, shown["median"])
        clipped = f" (the paper's first {last + PAPER_EXTRA_EPOCHS:g} of {total:g})"
        ax.set(title=problem, ylabel=PAPER_PANELS[metric],
               xlabel="epoch" + (clipped if last + PAPER_EXTRA_EPOCHS < total else ""))  # fmt: skip
    fig.tight_layout()
    handles = [legend_handle(styles[o]) for o in in_registry_order(styles, curves.optimizer)]
    handles += [Line2D([], [], color="black", linestyle=line, label=f"ours ({device})")
                for device, line in lines.items()]  # fmt: skip
    handles.append(Line2D([], [], color="black", linestyle="--", label="the paper"))
    figure_legend(fig, handles)
    return fig


@drawing("paper_epochs")
def paper_epochs(table: pd.DataFrame) -> plt.Figure:
    """Ours epoch by epoch against the paper's quartile bands, as offsets from its median.

    Args:
        table: The ``paper_epochs`` table.

    Returns:
        Rows: problems; columns: the paper's metrics. Per optimizer and epoch, the paper's
        quartile band (thick bar) and the band widened by its tolerance (thin line), both
        relative to the paper's median; ours as a point (median) with bars (quartiles),
        hollow where it lies outside the widened band.
    """
    if table.empty:
        return empty_figure("no epoch of ours to set beside the paper's curves")
    fig, panels, table = _paper_grid(table)
    styles = optimizer_styles(table.optimizer)
    runs = [(o, d) for o in in_registry_order(styles, table.optimizer)
            for d in dict.fromkeys(table[table.optimizer == o].device)]  # fmt: skip
    offsets = {run: 0.6 * (i / max(len(runs) - 1, 1) - 0.5) for i, run in enumerate(runs)}
    for ax, problem, metric, panel in panels:
        ax.axhline(0, color="grey", linewidth=0.6)
        for (optimizer, device), rows in panel.groupby(["optimizer", "device"]):
            style = styles[optimizer]
            x = rows.epoch + offsets[(optimizer, device)]
            base = rows.paper_median
            low, high = rows.paper_q1 - rows.tolerance, rows.paper_q3 + rows.tolerance
            ax.vlines(x, low - base, high - base, color=style.color, linewidth=0.8,
                      label=style.label)  # fmt: skip
            ax.vlines(x, rows.paper_q1 - base, rows.paper_q3 - base, color=style.color,
                      linewidth=6, alpha=0.3)  # fmt: skip
            ours = rows.ours_median - base
            err = [rows.ours_median - rows.ours_q1, rows.ours_q3 - rows.ours_median]
            inside = rows.inside_band.astype(bool)
            ax.errorbar(x, ours, yerr=err, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
            ax.scatter(x[inside], ours[inside], color=style.color, marker=style.marker,
                       edgecolors="black", s=24, zorder=3)  # fmt: skip
            ax.scatter(x[~inside], ours[~inside], facecolors="white", edgecolors=style.color,
                       marker=style.marker, s=24, zorder=3)  # fmt: skip
        ax.set(title=problem, xlabel="epoch",
               ylabel=f"{PAPER_PANELS[metric]}\nminus the paper's median")  # fmt: skip
        ax.set_xticks(sorted(set(panel.epoch)))
    fig.tight_layout()
    seeds = table.groupby(["optimizer", "device"]).seeds.min()
    handles = [legend_handle(styles[o], f"{styles[o].label} ({d}, {seeds[o, d]} seeds)")
               for o, d in runs]  # fmt: skip
    handles += [
        Line2D([], [], color="grey", linewidth=6, alpha=0.3, label="the paper's quartiles"),
        Line2D([], [], color="grey", linewidth=0.8, label="widened by the tolerance"),
        Line2D([], [], color="white", marker="o", markerfacecolor="grey",
               markeredgecolor="black", label="ours: median, quartile bars"),
        Line2D([], [], color="white", marker="o", markerfacecolor="white",
               markeredgecolor="grey", label="ours, outside the widened band"),
    ]  # fmt: skip
    figure_legend(fig, handles)
    return fig
