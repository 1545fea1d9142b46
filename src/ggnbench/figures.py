"""Tables to seaborn figures; reads only CSV tables, writes PNG and PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ggnbench.figure_sets import FIGURE_FORMATS, FIGURE_SETS

PANELS = {
    ("train", "loss"): "train loss (minibatch)",
    ("valid", "accuracy"): "valid accuracy",
    ("test", "accuracy"): "test accuracy",
}


def save(fig: plt.Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Save a figure as PNG and PDF, each through a temporary file and a rename.

    Args:
        fig: The figure.
        out_dir: Folder.
        name: File stem.

    Returns:
        The written paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in FIGURE_FORMATS:
        path = out_dir / f"{name}.{ext}"
        tmp = out_dir / f".{name}.tmp.{ext}"
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        tmp.replace(path)
        paths.append(path)
    plt.close(fig)
    return paths


def _empty(message: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def learning_curves(curves: pd.DataFrame) -> plt.Figure:
    """Median with quartile bands over seeds: train loss, valid and test accuracy.

    Args:
        curves: The ``curves`` table.

    Returns:
        Rows: problem and device; columns: the three quantities.
    """
    if curves.empty:
        return _empty("no final runs")
    parts = []
    for (split, quantity), label in PANELS.items():
        part = curves[curves.split == split]
        parts.append(part.assign(panel=label, value=part[quantity]))
    data = pd.concat(parts, ignore_index=True)
    data["problem / device"] = data.problem + " / " + data.device
    grid = sns.relplot(
        data=data, x="step", y="value", hue="optimizer", col="panel", row="problem / device",
        kind="line", estimator="median", errorbar=("pi", 50), height=2.8, aspect=1.3,
        facet_kws={"sharey": False, "sharex": "row"},
    )  # fmt: skip
    grid.set_titles("{row_name} | {col_name}")
    return grid.figure


def lr_damping_heatmap(runs: pd.DataFrame) -> plt.Figure:
    """Final validation accuracy over the lr x damping grid of each curvature optimizer.

    Args:
        runs: The ``runs`` table.

    Returns:
        One heatmap per problem, device and optimizer; diverged points are blank.
    """
    tune = runs[(runs.stage == "tune") & runs.damping.notna()]
    if tune.empty:
        return _empty("no DiagGGN tuning runs")
    tune = tune.assign(
        accuracy=np.where(tune.status == "ok", tune.final_valid_accuracy, np.nan),
        where=tune.problem + " / " + tune.device + "\n" + tune.optimizer,
    )
    panels = list(dict.fromkeys(tune["where"]))
    cols = min(2, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        grid = tune[tune["where"] == panel].pivot_table(
            index="lr", columns="damping", values="accuracy", aggfunc="median", dropna=False
        )
        sns.heatmap(grid, ax=ax, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis",
                    cbar_kws={"label": "final valid accuracy"})  # fmt: skip
        ax.set_title(panel)
        ax.invert_yaxis()
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def accuracy_vs_damping(runs: pd.DataFrame) -> plt.Figure:
    """Best-over-lr final validation accuracy against damping.

    Args:
        runs: The ``runs`` table.

    Returns:
        Columns: problem; rows: device; one line per DiagGGN variant.
    """
    tune = runs[(runs.stage == "tune") & runs.damping.notna() & (runs.status == "ok")]
    if tune.empty:
        return _empty("no finished DiagGGN tuning runs")
    best = (
        tune.groupby(["problem", "device", "optimizer", "damping"])
        .final_valid_accuracy.max()
        .reset_index()
    )
    grid = sns.relplot(
        data=best, x="damping", y="final_valid_accuracy", hue="optimizer", col="problem",
        row="device", kind="line", marker="o", height=3, aspect=1.3,
    )  # fmt: skip
    grid.set(xscale="log")
    grid.set_axis_labels("damping", "best final valid accuracy over lr")
    return grid.figure


def time_per_step(runs: pd.DataFrame) -> plt.Figure:
    """Time per step of each optimizer, CPU and CUDA side by side.

    Args:
        runs: The ``runs`` table.

    Returns:
        Bars: median over final seeds, whiskers: quartiles; one panel per problem.
    """
    final = runs[(runs.stage == "final") & (runs.status == "ok")]
    if final.empty:
        return _empty("no final runs")
    final = final.assign(step_ms=final.median_step_s * 1e3)
    grid = sns.catplot(
        data=final, x="optimizer", y="step_ms", hue="device", col="problem", kind="bar",
        estimator="median", errorbar=("pi", 50), height=3.2, aspect=1.3, sharey=False,
    )  # fmt: skip
    grid.set_axis_labels("", "time per step [ms]")
    grid.tick_params(axis="x", rotation=20)
    return grid.figure


def seed_example(trace: pd.DataFrame, table: pd.DataFrame) -> plt.Figure:
    """The reference example's two panels, loss and accuracy per iteration.

    Args:
        trace: The ``seed_example_trace`` table.
        table: The ``seed_example`` table (published numbers).

    Returns:
        Two panels; lines for ggnbench's runs, black markers for the published output.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, quantity in zip(axes, ("loss", "accuracy"), strict=True):
        sns.lineplot(data=trace, x="step", y=quantity, hue="variant", ax=ax, linewidth=1)
        ax.scatter(table.step, table[f"paper_{quantity}"], color="black", marker="x",
                   zorder=3, label="printed in the example")  # fmt: skip
        if quantity == "loss":
            ax.set_yscale("log")  # kept gradients can blow the loss up by orders of magnitude
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"minibatch {quantity}")
        ax.legend()
    data = trace["data"].iloc[0] if len(trace) else ""
    fig.suptitle(f"BackPACK DiagGGN example on {data}")
    fig.tight_layout()
    return fig


def _case_label(frame: pd.DataFrame) -> pd.Series:
    return frame.network + " / " + frame.device


def overhead_bars(table: pd.DataFrame) -> plt.Figure:
    """Overhead of each extension per batch size, in the style of the paper's figure.

    Args:
        table: The ``bench_overhead`` table.

    Returns:
        Bars of median time relative to the plain gradient; rows: network and device,
        columns: timed region.
    """
    data = table[table.extension != "none"]
    if data.empty:
        return _empty("no benchmark results")
    data = data.assign(case=_case_label(data))
    grid = sns.catplot(
        data=data, x="extension", y="ratio", hue="batch_size", col="region", row="case",
        kind="bar", errorbar=None, height=3, aspect=2.2, sharey=False, palette="crest",
    )  # fmt: skip
    for ax in grid.axes.flat:
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.tick_params(axis="x", rotation=45)
    grid.set_titles("{row_name} | {col_name}")
    grid.set_axis_labels("", "time / plain gradient")
    return grid.figure


def overhead_vs_batch(table: pd.DataFrame) -> plt.Figure:
    """How each extension's overhead grows with the batch size; the paper's dashed.

    Args:
        table: The ``bench_overhead`` table.

    Returns:
        Lines of the median ratio with its conservative quartile band.
    """
    data = table[table.extension != "none"]
    if data.empty:
        return _empty("no benchmark results")
    data = data.assign(case=_case_label(data))
    extensions = list(dict.fromkeys(data.extension))
    palette = dict(zip(extensions, sns.color_palette(n_colors=len(extensions)), strict=True))
    grid = sns.relplot(
        data=data, x="batch_size", y="ratio", hue="extension", col="region", row="case",
        kind="line", marker="o", height=3, aspect=1.5, facet_kws={"sharey": False},
        palette=palette,
    )  # fmt: skip
    for (case, region), ax in grid.axes_dict.items():
        panel = data[(data.case == case) & (data.region == region)]
        for extension, rows in panel.groupby("extension"):
            color = palette[extension]
            ax.fill_between(
                rows.batch_size, rows.ratio_low, rows.ratio_high, alpha=0.15, color=color
            )
            if rows.paper_ratio.notna().any():
                ax.plot(rows.batch_size, rows.paper_ratio, linestyle="--", marker="x",
                        color=color)  # fmt: skip
    grid.set_titles("{row_name} | {col_name} (dashed, x: paper)")
    grid.set_axis_labels("batch size", "time / plain gradient")
    return grid.figure


def memory_bars(table: pd.DataFrame) -> plt.Figure:
    """Peak memory the backward pass allocates, per extension and batch size.

    Args:
        table: The ``bench_memory`` table.

    Returns:
        Bars per network (columns) and device (rows).
    """
    data = table[table.region == "backward"]
    if data.empty:
        return _empty("no backward-only benchmark results")
    grid = sns.catplot(
        data=data, x="extension", y="peak_memory_mb", hue="batch_size", col="network",
        row="device", kind="bar", errorbar=None, height=3, aspect=1.8, sharey=False,
        palette="crest",
    )  # fmt: skip
    grid.tick_params(axis="x", rotation=45)
    grid.set_axis_labels("", "peak memory allocated [MiB]")
    return grid.figure


#: The paper's curve metrics, in panel order, with their axis labels.
PAPER_PANELS = {
    "test_accuracies": "test accuracy",
    "test_losses": "test loss",
    "train_accuracies": "train-eval accuracy",
    "train_losses": "train-eval loss",
}


def _paper_grid(table: pd.DataFrame) -> tuple[plt.Figure, Any, list, dict]:
    """A grid of panels, problems by the paper's metrics, and a colour per optimizer.

    Returns:
        The figure, its axes, ``(row, column, problem, metric, rows of the table)`` per
        panel, and the palette.
    """
    problems = list(dict.fromkeys(table.problem))
    metrics = [m for m in PAPER_PANELS if m in set(table.metric)]
    palette = dict(zip(sorted(set(table.optimizer)), sns.color_palette("colorblind"), strict=False))
    fig, axes = plt.subplots(
        len(problems), len(metrics), figsize=(3.6 * len(metrics), 2.9 * len(problems)),
        squeeze=False,
    )  # fmt: skip
    panels = [
        (i, j, problem, metric, table[(table.problem == problem) & (table.metric == metric)])
        for i, problem in enumerate(problems)
        for j, metric in enumerate(metrics)
    ]
    return fig, axes, panels, palette


def paper_curves(curves: pd.DataFrame) -> plt.Figure:
    """Ours against the paper's curves: medians with quartile bands, the paper's dashed.

    Args:
        curves: The ``paper_curves`` table.

    Returns:
        Rows: problems (ours on each device); columns: test and train-eval accuracy and loss.
    """
    if curves.empty:
        return _empty("no problem and optimizer of the paper among the final runs")
    fig, axes, panels, palette = _paper_grid(curves)
    for i, j, problem, metric, panel in panels:
        ax = axes[i][j]
        for (source, optimizer, device), rows in panel.groupby(["source", "optimizer", "device"]):
            rows = rows.sort_values("epoch")
            paper_line = source == "paper"
            color = palette[optimizer]
            label = f"{optimizer} (paper)" if paper_line else f"{optimizer} ({device})"
            ax.plot(rows.epoch, rows["median"], color=color, label=label,
                        linestyle="--" if paper_line else "-")  # fmt: skip
            ax.fill_between(rows.epoch, rows.q1, rows.q3, color=color,
                                alpha=0.08 if paper_line else 0.2)  # fmt: skip
        ax.set_title(f"{problem} | {PAPER_PANELS[metric]}", fontsize=9)
        ax.set_xlabel("epoch")
        if j == axes.shape[1] - 1:
            ax.legend(fontsize=7)
    fig.suptitle("ours (solid) vs the paper (dashed): median and quartiles over seeds")
    fig.tight_layout()
    return fig


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
        return _empty("no epoch of ours to set beside the paper's curves")
    fig, axes, panels, palette = _paper_grid(table)
    optimizers = sorted(palette)
    offsets = {o: 0.6 * (i / max(len(optimizers) - 1, 1) - 0.5) for i, o in enumerate(optimizers)}
    for i, j, problem, metric, panel in panels:
        ax = axes[i][j]
        ax.axhline(0, color="grey", linewidth=0.6)
        for (optimizer, device), rows in panel.groupby(["optimizer", "device"]):
            color = palette[optimizer]
            x = rows.epoch + offsets[optimizer]
            base = rows.paper_median
            low, high = rows.paper_q1 - rows.tolerance, rows.paper_q3 + rows.tolerance
            ax.vlines(x, low - base, high - base, color=color, linewidth=0.8)
            ax.vlines(x, rows.paper_q1 - base, rows.paper_q3 - base, color=color, linewidth=6,
                      alpha=0.3)  # fmt: skip
            ours = rows.ours_median - base
            err = [rows.ours_median - rows.ours_q1, rows.ours_q3 - rows.ours_median]
            inside = rows.inside_band.astype(bool)
            ax.errorbar(x, ours, yerr=err, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
            label = f"{optimizer} ({device}, {int(rows.seeds.min())} seeds)"
            ax.scatter(x[inside], ours[inside], color=color, edgecolors="black", s=22, zorder=3,
                       label=label)  # fmt: skip
            ax.scatter(x[~inside], ours[~inside], facecolors="white", edgecolors=color, s=22,
                       zorder=3)  # fmt: skip
        ax.set_title(f"{problem} | {PAPER_PANELS[metric]}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("minus the paper's median", fontsize=8)
        ax.set_xticks(sorted(set(panel.epoch)))
        if j == axes.shape[1] - 1:
            ax.legend(fontsize=7)
    fig.suptitle(
        "ours (points: median, bars: quartiles; hollow: outside) against the paper's quartile "
        "bands (thick) widened by the tolerance (thin), relative to the paper's median",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def draw(figure_set: str, tables: str | Path, out_dir: str | Path) -> list[Path]:
    """Draw one set of figures from the CSV tables.

    Args:
        figure_set: ``study``, ``seed_example`` or ``bench``.
        tables: Folder of the CSV tables.
        out_dir: Figures folder.

    Returns:
        The written paths.
    """
    frames: dict[str, pd.DataFrame] = {}
    paths: list[Path] = []
    for name, figure in FIGURE_SETS[figure_set].items():
        inputs = [
            frames.setdefault(t, pd.read_csv(Path(tables) / f"{t}.csv")) for t in figure.tables
        ]
        paths += save(globals()[figure.draw](*inputs), out_dir, name)
    return paths
