"""Tables to seaborn figures; reads only CSV tables, writes PNG and PDF."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from ggnbench.errors import GGNBenchError
from ggnbench.report import paper
from ggnbench.report.figure_sets import FIGURE_FORMATS, FIGURE_SETS
from ggnbench.report.styles import Style, optimizer_styles

#: The minibatch train loss is smoothed by a rolling median over this share of the longest
#: run's steps (at least one step).
SMOOTHING_SHARE = 0.05
#: A loss, time or ratio axis is logarithmic where its values span this factor or more.
LOG_SPAN = 10.0
#: Width of a group of bars (seaborn's default), which the paper's crosses sit on.
BAR_WIDTH = 0.8
#: A logarithmic axis spanning fewer decades than this is labelled with plain numbers.
PLAIN_DECADES = 2
#: An accuracy (a linear loss) axis spans the medians after the first evaluation from this
#: quantile of them up (down) to the best one: the untrained network and the first steps
#: lie outside, the curves fill the axis.
ZOOM_QUANTILE = 0.1
#: Points after the first evaluation a curve needs before its axis is zoomed past it.
ZOOM_MIN_POINTS = 2
#: The paper's curves are drawn this many epochs past our last one, where ours are shorter.
PAPER_EXTRA_EPOCHS = 1
#: Markers on a line, spaced this far apart (a share of the axes' diagonal).
MARKER_SPACING = 0.1
#: Line styles of our devices, in the order they appear; the paper's curves are dashed.
DEVICE_LINES = ("-", "-.", ":")
#: Hatches of our devices' bars, in the same order.
DEVICE_HATCHES = ("", "//", "..")
#: At most this many entries in a row of a legend (the rows balanced).
LEGEND_COLUMNS = 5
#: The grey of a grid point that did not run.
NOT_RUN = "0.85"

#: The panels of the learning curves: split, quantity and axis label.
PANELS = {
    ("train", "loss"): "train loss (minibatch)",
    ("valid", "accuracy"): "validation accuracy",
    ("test", "accuracy"): "test accuracy",
}

#: The paper's optimizer labels (the paper tables' ``optimizer``) to our registry names.
PAPER_NAMES = {label: name for name, label in paper.LABELS.items()}


#: Figure name -> the function that draws it from its tables (see :func:`drawing`).
DRAWINGS: dict[str, Callable[..., plt.Figure]] = {}
#: Every figure of the registry, by name.
_FIGURES = {name: f for figures in FIGURE_SETS.values() for name, f in figures.items()}


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
        if name not in _FIGURES or name in DRAWINGS:
            raise GGNBenchError(f"{function.__name__}: no figure {name!r} left to draw")
        if len(inspect.signature(function).parameters) != len(_FIGURES[name].tables):
            raise GGNBenchError(f"{function.__name__} must take the tables of {name!r}")
        DRAWINGS[name] = function
        return function

    return register


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


def _log_if_wide(ax: plt.Axes, values: pd.Series) -> bool:
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


def _fit(ax: plt.Axes, quantity: str, x: pd.Series, medians: pd.Series) -> None:
    """A loss axis logarithmic where it spans decades; else zoomed (:data:`ZOOM_QUANTILE`).

    The zoom leaves out the first evaluation (the untrained network) where the curves have
    at least :data:`ZOOM_MIN_POINTS` points after it; with fewer, the whole range shows.
    """
    if quantity == "loss" and _log_if_wide(ax, medians):
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


def _quartiles(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Median and quartiles of a column over everything but the keys (seeds).

    Returns:
        The keys, ``q1``, ``median`` and ``q3``.
    """
    stats = frame.groupby(keys)[value].quantile([0.25, 0.5, 0.75]).unstack()
    return stats.set_axis(["q1", "median", "q3"], axis=1).reset_index()


def _band(ax: plt.Axes, x: pd.Series, stats: pd.DataFrame, style: Style, **line: Any) -> None:
    """A median line with its quartile band, in an optimizer's colour and marker."""
    ax.plot(x, stats["median"], color=style.color, marker=style.marker, markersize=4,
            markevery=MARKER_SPACING, label=style.label, **line)  # fmt: skip
    ax.fill_between(x, stats.q1, stats.q3, color=style.color, alpha=0.15, linewidth=0)


def _handle(style: Style, label: str | None = None) -> Line2D:
    return Line2D([], [], color=style.color, marker=style.marker, label=label or style.label)


def _legend(fig: plt.Figure, handles: list[Any]) -> None:
    """One legend for the whole figure, below its panels (none without handles)."""
    if not handles:
        return
    rows = -(-len(handles) // LEGEND_COLUMNS)
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=-(-len(handles) // rows), frameon=False)  # fmt: skip


def _in_registry_order(styles: dict[str, Style], names: pd.Series) -> list[str]:
    return [name for name in styles if name in set(names)]


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
        return _empty("no final runs")
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
                _band(ax, line.step, line, styles[optimizer])
            _fit(ax, quantity, stats.step, stats["median"])
            if split == "train":
                label += f",\nrolling median over {window} steps"
            ax.set(title=f"{problem} ({device})", xlabel="step", ylabel=label)
    fig.tight_layout()
    _legend(fig, [_handle(styles[o]) for o in _in_registry_order(styles, curves.optimizer)])
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
        return _empty("no tuning runs with a damping")
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
    _legend(fig, [key for key in keys if key.get_label() in drawn])
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
        return _empty("no finished tuning runs with a damping")
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
    _legend(fig, [_handle(styles[o]) for o in _in_registry_order(styles, best.optimizer)])
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
        return _empty("no final runs")
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
        optimizers = _in_registry_order(styles, part.optimizer)
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
        _log_if_wide(ax, part["median"])
        ax.set(title=problem, ylabel="time per step [ms]")
    fig.tight_layout()
    _legend(fig, [Patch(facecolor="white", edgecolor="black", hatch=hatches[d], label=d)
                  for d in devices])  # fmt: skip
    return fig


@drawing("seed_example")
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
    data = trace["data"].iloc[0] if len(trace) else ""
    fig.suptitle(f"BackPACK DiagGGN example on {data}")
    fig.tight_layout()
    _legend(fig, axes[0].get_legend_handles_labels()[0])
    for ax in axes:
        ax.get_legend().remove()
    return fig


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
        return _empty("no benchmark results")
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
        return _empty("no benchmark results")
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
        _log_if_wide(ax, panel.ratio)
        ax.set(title=f"{case} | {region}", xlabel="batch size", ylabel="time / plain gradient")
    fig.tight_layout()
    handles = [Line2D([], [], color=palette[e], marker="o", label=e) for e in extensions]
    handles += [Line2D([], [], color="black", marker="o", label="ours: median, quartile band"),
                Line2D([], [], color="black", linestyle="--", marker="x",
                       label="the paper's median (GPU)")]  # fmt: skip
    _legend(fig, handles)
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
        return _empty("no backward-only benchmark results")
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
        return _empty("no problem and optimizer of the paper among the final runs")
    fig, panels, curves = _paper_grid(curves)
    styles = optimizer_styles(curves.optimizer)
    ours = curves[curves.source == "ours"]
    lines = dict(zip(dict.fromkeys(ours.device), DEVICE_LINES, strict=False))
    for ax, problem, metric, panel in panels:
        last, total = ours[ours.problem == problem].epoch.max(), panel.epoch.max()
        shown = panel[(panel.source == "ours") | (panel.epoch <= last + PAPER_EXTRA_EPOCHS)]
        for (source, optimizer, device), rows in shown.groupby(["source", "optimizer", "device"]):
            rows = rows.sort_values("epoch")
            _band(ax, rows.epoch, rows, styles[optimizer],
                  linestyle="--" if source == "paper" else lines[device])  # fmt: skip
        _fit(ax, paper.METRICS[metric][1], shown.epoch, shown["median"])
        clipped = f" (the paper's first {last + PAPER_EXTRA_EPOCHS:g} of {total:g})"
        ax.set(title=problem, ylabel=PAPER_PANELS[metric],
               xlabel="epoch" + (clipped if last + PAPER_EXTRA_EPOCHS < total else ""))  # fmt: skip
    fig.tight_layout()
    handles = [_handle(styles[o]) for o in _in_registry_order(styles, curves.optimizer)]
    handles += [Line2D([], [], color="black", linestyle=line, label=f"ours ({device})")
                for device, line in lines.items()]  # fmt: skip
    handles.append(Line2D([], [], color="black", linestyle="--", label="the paper"))
    _legend(fig, handles)
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
        return _empty("no epoch of ours to set beside the paper's curves")
    fig, panels, table = _paper_grid(table)
    styles = optimizer_styles(table.optimizer)
    runs = [(o, d) for o in _in_registry_order(styles, table.optimizer)
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
    handles = [_handle(styles[o], f"{styles[o].label} ({d}, {seeds[o, d]} seeds)")
               for o, d in runs]  # fmt: skip
    handles += [
        Line2D([], [], color="grey", linewidth=6, alpha=0.3, label="the paper's quartiles"),
        Line2D([], [], color="grey", linewidth=0.8, label="widened by the tolerance"),
        Line2D([], [], color="white", marker="o", markerfacecolor="grey",
               markeredgecolor="black", label="ours: median, quartile bars"),
        Line2D([], [], color="white", marker="o", markerfacecolor="white",
               markeredgecolor="grey", label="ours, outside the widened band"),
    ]  # fmt: skip
    _legend(fig, handles)
    return fig


def draw(
    figure_set: str, tables: str | Path, out_dir: str | Path, names: list[str] | None = None
) -> list[Path]:
    """Draw some figures of a set from the CSV tables.

    Args:
        figure_set: ``study``, ``seed_example``, ``paper`` or ``bench``.
        tables: Folder of the CSV tables.
        out_dir: Figures folder.
        names: The figures to draw; None: every figure of the set.

    Returns:
        The written paths.

    Raises:
        GGNBenchError: If a name is not a figure of the set.
    """
    figures = FIGURE_SETS[figure_set]
    unknown = sorted(set(names or ()) - set(figures))
    if unknown:
        raise GGNBenchError(
            f"no figure {', '.join(unknown)} in the {figure_set} set ({', '.join(figures)})"
        )
    frames: dict[str, pd.DataFrame] = {}
    paths: list[Path] = []
    for name in figures if names is None else names:
        figure = figures[name]
        inputs = [
            frames.setdefault(t, pd.read_csv(Path(tables) / f"{t}.csv")) for t in figure.tables
        ]
        paths += save(DRAWINGS[name](*inputs), out_dir, name)
    return paths
