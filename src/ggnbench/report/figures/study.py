"""The study's figures: learning curves, the lr x damping grid, time per step."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch, Rectangle

from ggnbench.report.figures.common import (
    empty_figure,
    figure_legend,
    fit_axis,
    in_registry_order,
    legend_handle,
    log_if_wide,
    median_band,
)
from ggnbench.report.figures.registry import drawing
from ggnbench.report.styles import optimizer_styles

#: The minibatch train loss is smoothed by a rolling median over this share of the longest
#: run's steps (at least one step).
SMOOTHING_SHARE = 0.05
#: Hatches of our devices' bars, in the order they appear.
DEVICE_HATCHES = ("", "//", "..")
#: The grey of a grid point that did not run.
NOT_RUN = "0.85"

#: The panels of the learning curves: split, quantity and axis label.
PANELS = {
    ("train", "loss"): "train loss (minibatch)",
    ("valid", "accuracy"): "validation accuracy",
    ("test", "accuracy"): "test accuracy",
}


def _quartiles(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Median and quartiles of a column over everything but the keys (seeds).

    Returns:
        The keys, ``q1``, ``median`` and ``q3``.
    """
    stats = frame.groupby(keys)[value].quantile([0.25, 0.5, 0.75]).unstack()
    return stats.set_axis(["q1", "median", "q3"], axis=1).reset_index()


def _smoothed_train_loss(curves: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The train split with each run's minibatch loss smoothed by a rolling median.

    Returns:
        The rows, and the window in steps (:data:`SMOOTHING_SHARE` of the longest run).
    """
    train = curves[(curves.split == "train") & np.isfinite(curves.loss)].sort_values("step")
    runs = train.groupby(["optimizer", "seed"]).loss
    window = max(1, round(SMOOTHING_SHARE * runs.size().max()))
    smooth = runs.transform(lambda s: s.rolling(window, center=True, min_periods=1).median())
    return train.assign(loss=smooth), window


@drawing("learning_curves")
def learning_curves(curves: pd.DataFrame) -> plt.Figure:
    """Median with quartile bands over seeds: train loss, validation and test accuracy.

    Args:
        curves: The ``curves`` table.

    Returns:
        Rows: problem and device; columns: the smoothed minibatch train loss (logarithmic
        where it spans decades), validation and test accuracy (zoomed to the curves).
    """
    if curves.empty:
        return empty_figure("no final runs")
    styles = optimizer_styles(curves.optimizer)
    rows = list(dict.fromkeys(zip(curves.problem, curves.device, strict=True)))
    fig, axes = plt.subplots(len(rows), len(PANELS), figsize=(4.2 * len(PANELS), 3.2 * len(rows)),
                             squeeze=False, sharex="row")  # fmt: skip
    for i, (problem, device) in enumerate(rows):
        here = curves[(curves.problem == problem) & (curves.device == device)]
        train, window = _smoothed_train_loss(here)
        for ax, ((split, quantity), label) in zip(axes[i], PANELS.items(), strict=True):
            part = train if split == "train" else here[here.split == split]
            stats = _quartiles(part, ["optimizer", "step"], quantity)
            for optimizer, line in stats.groupby("optimizer"):
                median_band(ax, line.step, line, styles[optimizer])
            fit_axis(ax, quantity, stats.step, stats["median"])
            if split == "train":
                label += f",\nrolling median over {window} steps"
            ax.set(title=f"{problem} ({device})", xlabel="step", ylabel=label)
    fig.tight_layout()
    figure_legend(
        fig, [legend_handle(styles[o]) for o in in_registry_order(styles, curves.optimizer)]
    )
    return fig


def _grid_cells(part: pd.DataFrame) -> pd.DataFrame:
    """The cells of one optimizer's lr x damping grid.

    Returns:
        Per lr and damping (every pair of the values that ran): the median final validation
        accuracy of its finished runs, and its status (``ok`` when one finished, else its
        runs' status; NaN where none ran).
    """
    ok = part.status == "ok"
    cells = (
        part.assign(accuracy=part.final_valid_accuracy.where(ok), ok=ok)
        .groupby(["lr", "damping"])
        .agg(accuracy=("accuracy", "median"), ok=("ok", "any"), status=("status", "first"))
    )
    cells["status"] = cells.status.where(~cells.ok, "ok")
    full = pd.MultiIndex.from_product([sorted(set(part.lr)), sorted(set(part.damping))])
    return cells.reindex(full)


@drawing("lr_damping_heatmap")
def lr_damping_heatmap(runs: pd.DataFrame) -> plt.Figure:
    """Final validation accuracy over the lr x damping grid of each curvature optimizer.

    Args:
        runs: The ``runs`` table.

    Returns:
        One heatmap per problem, device and optimizer, on one colour scale spanning the
        finished runs; diverged points hatched (``div.``), points not run grey.
    """
    tune = runs[(runs.stage == "tune") & runs.damping.notna()]
    if tune.empty:
        return empty_figure("no tuning runs with a damping")
    styles = optimizer_styles(runs.optimizer)
    finished = tune.final_valid_accuracy[tune.status == "ok"]
    vmin, vmax = (finished.min(), finished.max()) if len(finished) else (0.0, 1.0)
    panels = list(dict.fromkeys(zip(tune.problem, tune.device, tune.optimizer, strict=True)))
    cols = min(2, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    drawn = set()
    for ax, (problem, device, optimizer) in zip(axes.flat, panels, strict=False):
        where = (tune.problem == problem) & (tune.device == device)
        cells = _grid_cells(tune[where & (tune.optimizer == optimizer)])
        sns.heatmap(
            cells.accuracy.unstack(), ax=ax, annot=True, fmt=".3f", vmin=vmin, vmax=vmax,
            cmap="viridis", cbar_kws={"label": "final validation accuracy"},
        )  # fmt: skip
        for (r, c), status in np.ndenumerate(cells.status.unstack().to_numpy()):
            if status == "ok":
                continue
            diverged = status == "diverged"
            ax.add_patch(Rectangle((c, r), 1, 1, facecolor="white" if diverged else NOT_RUN,
                                   hatch="xx" if diverged else None, edgecolor="0.6"))  # fmt: skip
            kind = "not run" if pd.isna(status) else str(status)
            drawn.add(kind)
            text = "div." if diverged else kind
            ax.text(c + 0.5, r + 0.5, text, ha="center", va="center", fontsize=8,
                    bbox={"facecolor": "white", "linewidth": 0, "pad": 1})  # fmt: skip
        ax.set(title=f"{styles[optimizer].label} on {problem} ({device})", xlabel="damping",
               ylabel="learning rate")  # fmt: skip
        ax.invert_yaxis()
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    keys = [Patch(facecolor="white", hatch="xx", edgecolor="0.6", label="diverged"),
            Patch(facecolor=NOT_RUN, edgecolor="0.6", label="not run")]  # fmt: skip
    figure_legend(fig, [key for key in keys if key.get_label() in drawn])
    return fig


@drawing("accuracy_vs_damping")
def accuracy_vs_damping(runs: pd.DataFrame) -> plt.Figure:
    """Best-over-lr final validation accuracy against damping.

    Args:
        runs: The ``runs`` table.

    Returns:
        One panel per problem and device; one line per optimizer with a damping.
    """
    tune = runs[(runs.stage == "tune") & runs.damping.notna() & (runs.status == "ok")]
    if tune.empty:
        return empty_figure("no finished tuning runs with a damping")
    styles = optimizer_styles(runs.optimizer)
    best = (
        tune.groupby(["problem", "device", "optimizer", "damping"])
        .final_valid_accuracy.max()
        .reset_index()
    )
    panels = list(dict.fromkeys(zip(best.problem, best.device, strict=True)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for ax, (problem, device) in zip(axes[0], panels, strict=True):
        part = best[(best.problem == problem) & (best.device == device)]
        for optimizer, line in part.groupby("optimizer"):
            style = styles[optimizer]
            ax.plot(line.damping, line.final_valid_accuracy, color=style.color,
                    marker=style.marker, label=style.label)  # fmt: skip
        ax.set_xscale("log")
        ax.set(title=f"{problem} ({device})", xlabel="damping",
               ylabel="final validation accuracy,\nbest over learning rates")  # fmt: skip
    fig.tight_layout()
    figure_legend(
        fig, [legend_handle(styles[o]) for o in in_registry_order(styles, best.optimizer)]
    )
    return fig


@drawing("time_per_step")
def time_per_step(runs: pd.DataFrame) -> plt.Figure:
    """Time per step of each optimizer, the devices side by side.

    Args:
        runs: The ``runs`` table.

    Returns:
        Bars: median over final seeds in the optimizer's colour, hatched per device;
        whiskers: quartiles; one panel per problem, logarithmic where times span decades.
    """
    final = runs[(runs.stage == "final") & (runs.status == "ok")]
    if final.empty:
        return empty_figure("no final runs")
    styles = optimizer_styles(runs.optimizer)
    stats = _quartiles(final.assign(step_ms=final.median_step_s * 1e3),
                       ["problem", "device", "optimizer"], "step_ms")  # fmt: skip
    devices = list(dict.fromkeys(stats.device))
    hatches = dict(zip(devices, DEVICE_HATCHES, strict=False))
    width = 0.8 / len(devices)
    problems = list(dict.fromkeys(stats.problem))
    fig, axes = plt.subplots(1, len(problems), figsize=(4.5 * len(problems), 3.6), squeeze=False)
    for ax, problem in zip(axes[0], problems, strict=True):
        part = stats[stats.problem == problem]
        optimizers = in_registry_order(styles, part.optimizer)
        for i, optimizer in enumerate(optimizers):
            for k, device in enumerate(devices):
                bar = part[(part.optimizer == optimizer) & (part.device == device)]
                ax.bar(
                    i - 0.4 + width * (k + 0.5), bar["median"], width,
                    yerr=[bar["median"] - bar.q1, bar.q3 - bar["median"]], capsize=3,
                    color=styles[optimizer].color, hatch=hatches[device], edgecolor="black",
                    label=styles[optimizer].label,
                )  # fmt: skip
        ax.set_xticks(range(len(optimizers)), [styles[o].label for o in optimizers],
                      rotation=30, ha="right")  # fmt: skip
        log_if_wide(ax, part["median"])
        ax.set(title=problem, ylabel="time per step [ms]")
    fig.tight_layout()
    figure_legend(fig, [Patch(facecolor="white", edgecolor="black", hatch=hatches[d], label=d)
                  for d in devices])  # fmt: skip
    return fig
