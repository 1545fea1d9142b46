"""The paper's published numbers beside ours: its curves, final accuracies and best settings.

The numbers live in ``reference/paper/`` (see its README for their sources). This module
reads them and lines ours up with them; it never changes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ggnbench import CHECKOUT

#: The folder of the paper's numbers, and how tables name it.
REFERENCE = CHECKOUT / "reference" / "paper"
SOURCE = "reference/paper (Dangel, Kunstner & Hennig, ICLR 2020)"

#: ggnbench's optimizer names and the paper's labels for the same methods.
LABELS = {
    "diag_ggn_exact": "DiagGGN",
    "diag_ggn_mc": "DiagGGN-MC",
    "sgd": "Momentum",
    "adam": "Adam",
    "kfac": "KFAC",
    "kflr": "KFLR",
    "kfra": "KFRA",
}

#: Our splits and quantities behind each of the paper's curve metrics.
METRICS = {
    "test_accuracies": ("test", "accuracy"),
    "test_losses": ("test", "loss"),
    "train_accuracies": ("train_eval", "accuracy"),
    "train_losses": ("train_eval", "loss"),
}

#: The paper's overhead benchmark runs (the main figure's, not the additional ones).
BENCH_SOURCES = ("benchmark_cifar10.pk", "benchmark_cifar100.pk")


def curves() -> pd.DataFrame:
    """The paper's learning curves.

    Returns:
        ``problem, metric, optimizer, epoch, median, q1, q3``.
    """
    return pd.read_csv(REFERENCE / "curves.csv")


def best_settings() -> pd.DataFrame:
    """The paper's best hyperparameters.

    Returns:
        ``problem, optimizer, lr, damping, momentum, interior_of_grid``.
    """
    return pd.read_csv(REFERENCE / "best_hyperparameters.csv")


def bench_ratios() -> pd.DataFrame:
    """The paper's median overhead ratios (extension time over plain gradient time).

    Returns:
        ``network, extension, batch_size, paper_ratio``.
    """
    frame = pd.read_csv(REFERENCE / "bench_medians.csv")
    frame = frame[frame.source_file.isin(BENCH_SOURCES)]
    return frame.rename(columns={"ratio_median": "paper_ratio"})[
        ["network", "extension", "batch_size", "paper_ratio"]
    ]


def final_accuracy() -> pd.DataFrame:
    """The paper's final test accuracy (last epoch) per problem and optimizer.

    Returns:
        ``problem, optimizer (paper label), epochs, median, q1, q3``.
    """
    test = curves()
    test = test[test.metric == "test_accuracies"]
    last = test.loc[test.groupby(["problem", "optimizer"]).epoch.idxmax()]
    return last.rename(columns={"epoch": "epochs"}).drop(columns="metric").reset_index(drop=True)


def our_curves(curves_table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Our final-seed curves per epoch, reduced to median and quartiles over seeds.

    Args:
        curves_table: The ``curves`` table (every logged row of every final run).
        runs: The ``runs`` table (for each run's steps per epoch).

    Returns:
        ``problem, optimizer (paper label), device, metric, epoch, median, q1, q3, seeds``
        for the problems and optimizers the paper has.
    """
    keys = ["problem", "optimizer", "device", "seed"]
    final = runs[runs.stage == "final"][[*keys, "steps_per_epoch"]]
    data = curves_table.merge(final, on=keys, how="inner")
    data = data[data.optimizer.isin(list(LABELS)) & data.problem.isin(set(curves().problem))]
    rows = []
    for metric, (split, quantity) in METRICS.items():
        part = data[data.split == split]
        if part.empty:
            continue
        part = part.assign(epoch=part.step / part.steps_per_epoch, value=part[quantity])
        grouped = part.groupby(["problem", "optimizer", "device", "epoch"]).value
        stats = grouped.agg(
            median="median",
            q1=lambda v: v.quantile(0.25),
            q3=lambda v: v.quantile(0.75),
            seeds="size",
        ).reset_index()
        rows.append(stats.assign(metric=metric))
    columns = ["problem", "optimizer", "device", "metric", "epoch", "median", "q1", "q3", "seeds"]
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.concat(rows, ignore_index=True)
    out["optimizer"] = out.optimizer.map(LABELS)
    return out[columns]


def comparison_curves(curves_table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Ours and the paper's curves in one table, for the problems and optimizers both have.

    Args:
        curves_table: The ``curves`` table.
        runs: The ``runs`` table.

    Returns:
        ``source (ours|paper), problem, optimizer, device, metric, epoch, median, q1, q3``.
    """
    ours = our_curves(curves_table, runs).assign(source="ours")
    pairs = set(zip(ours.problem, ours.optimizer, strict=True))
    theirs = curves()
    theirs = theirs[
        [(p, o) in pairs for p, o in zip(theirs.problem, theirs.optimizer, strict=True)]
    ]
    theirs = theirs.assign(source="paper", device="gpu")
    columns = ["source", "problem", "optimizer", "device", "metric", "epoch", "median", "q1", "q3"]
    return pd.concat([ours[columns], theirs[columns]], ignore_index=True)


def _verdict(ours: float, q1: float, q3: float, paper: float, p1: float, p3: float) -> str:
    if any(np.isnan(v) for v in (ours, paper)):
        return "missing"
    if p1 <= ours <= p3 or q1 <= paper <= q3:
        return "agrees"
    return "higher" if ours > paper else "lower"


def _our_epochs(runs: pd.DataFrame | None) -> dict[tuple[str, str, str], float]:
    """The epochs our final runs trained, per problem, optimizer and device (median)."""
    if runs is None or not {"steps_done", "steps_per_epoch"} <= set(runs.columns):
        return {}
    final = runs[runs.stage == "final"]
    epochs = final.steps_done / final.steps_per_epoch
    grouped = epochs.groupby([final.problem, final.optimizer, final.device]).median()
    return {key: float(value) for key, value in grouped.items() if np.isfinite(value)}


def comparison(final_metrics: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Final test accuracy, ours beside the paper's, per problem, optimizer and device.

    Args:
        final_metrics: The ``final_metrics`` table.
        runs: The ``runs`` table, for the epochs our runs trained; None: not known.

    Returns:
        Medians and quartiles of both, the difference, whether each median lies in the
        other's interquartile range, both best settings, both numbers of epochs, a
        one-word verdict (``agrees``: one median inside the other's IQR; else ``higher``
        or ``lower``; ``shorter`` where our runs trained fewer epochs than the paper's,
        whose final accuracy they then cannot be held to), and the source.
    """
    epochs = _our_epochs(runs)
    ours = final_metrics[
        (final_metrics.metric == "final_test_accuracy") & final_metrics.optimizer.isin(list(LABELS))
    ]
    paper_final = final_accuracy().set_index(["problem", "optimizer"])
    settings = best_settings().set_index(["problem", "optimizer"])
    rows = []
    for row in ours.itertuples():
        label = LABELS[row.optimizer]
        if (row.problem, label) not in paper_final.index:
            continue
        theirs = paper_final.loc[(row.problem, label)]
        best = (
            settings.loc[(row.problem, label)] if (row.problem, label) in settings.index else None
        )
        rows.append(
            {
                "problem": row.problem,
                "optimizer": label,
                "device": row.device,
                "protocol": getattr(row, "protocol", None),
                "ours_median": row.median,
                "ours_q1": row.q1,
                "ours_q3": row.q3,
                "seeds": row.n,
                "paper_median": theirs["median"],
                "paper_q1": theirs.q1,
                "paper_q3": theirs.q3,
                "difference": row.median - theirs["median"],
                "ours_inside_paper_iqr": bool(theirs.q1 <= row.median <= theirs.q3),
                "paper_inside_ours_iqr": bool(row.q1 <= theirs["median"] <= row.q3),
                "ours_lr": getattr(row, "lr", np.nan),
                "ours_damping": getattr(row, "damping", np.nan),
                "paper_lr": np.nan if best is None else best.lr,
                "paper_damping": np.nan if best is None else best.damping,
                "ours_epochs": epochs.get((row.problem, row.optimizer, row.device), np.nan),
                "paper_epochs": theirs.epochs,
                "verdict": "shorter"
                if epochs.get((row.problem, row.optimizer, row.device), np.inf) < theirs.epochs
                else _verdict(row.median, row.q1, row.q3, theirs["median"], theirs.q1, theirs.q3),
                "paper_source": SOURCE,
            }
        )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


COMPARISON_COLUMNS = [
    "problem", "optimizer", "device", "protocol", "ours_median", "ours_q1", "ours_q3", "seeds",
    "paper_median", "paper_q1", "paper_q3", "difference", "ours_inside_paper_iqr",
    "paper_inside_ours_iqr", "ours_lr", "ours_damping", "paper_lr", "paper_damping",
    "ours_epochs", "paper_epochs", "verdict", "paper_source",
]  # fmt: skip


#: How far outside the paper's quartile band a median of ours may lie and still count as
#: inside, per quantity (absolute), when the study's configuration gives none.
DEFAULT_TOLERANCE = {"accuracy": 0.005, "loss": 0.02}

EPOCH_COLUMNS = [
    "problem", "optimizer", "device", "epoch", "metric", "ours_median", "ours_q1", "ours_q3",
    "seeds", "paper_median", "paper_q1", "paper_q3", "tolerance", "inside_band", "verdict",
]  # fmt: skip

SUMMARY_COLUMNS = [
    "problem", "optimizer", "device", "epochs", "seeds", "rows", "inside", "outside",
    "outside_metrics", "verdict",
]  # fmt: skip


def epochs(
    curves_table: pd.DataFrame, runs: pd.DataFrame, tolerance: dict[str, float] | None = None
) -> pd.DataFrame:
    """Ours beside the paper's curves, epoch by epoch: is our median inside its band?

    Every epoch at which both have a value counts (ours: the median over our final seeds
    of the evaluation after that many passes; the paper's: its median and quartiles over
    ten seeds). Our median is inside when it lies in ``[q1 - tol, q3 + tol]`` of the paper's,
    ``tol`` the tolerance of its quantity (accuracy or loss): both edges belong to the band.
    A NaN median of ours (every seed's value NaN) is ``missing``, never inside; an infinite
    one is ``above`` or ``below``.

    Args:
        curves_table: The ``curves`` table.
        runs: The ``runs`` table.
        tolerance: Widening of the band per quantity; :data:`DEFAULT_TOLERANCE` if None.

    Returns:
        One row per problem, optimizer, device, epoch and metric (:data:`EPOCH_COLUMNS`),
        ``verdict`` ``inside``, ``above``, ``below`` or ``missing`` (``inside_band`` False).
    """
    tolerance = {**DEFAULT_TOLERANCE, **(tolerance or {})}
    ours = our_curves(curves_table, runs)
    if ours.empty:
        return pd.DataFrame(columns=EPOCH_COLUMNS)
    epoch = ours.epoch.astype(float)
    ours = ours[np.isclose(epoch, epoch.round())].assign(epoch=lambda f: f.epoch.round())
    ours = ours.astype({"epoch": int})
    theirs = curves().rename(columns={"median": "paper_median", "q1": "paper_q1", "q3": "paper_q3"})
    both = ours.rename(columns={"median": "ours_median", "q1": "ours_q1", "q3": "ours_q3"}).merge(
        theirs, on=["problem", "optimizer", "metric", "epoch"], how="inner"
    )
    if both.empty:
        return pd.DataFrame(columns=EPOCH_COLUMNS)
    both["tolerance"] = [tolerance[METRICS[m][1]] for m in both.metric]
    low, high = both.paper_q1 - both.tolerance, both.paper_q3 + both.tolerance
    known = both.ours_median.notna() & low.notna() & high.notna()
    both["inside_band"] = known & (both.ours_median >= low) & (both.ours_median <= high)
    both["verdict"] = np.select(
        [~known, both.inside_band, both.ours_median > high],
        ["missing", "inside", "above"],
        "below",
    )
    order = ["problem", "optimizer", "device", "metric", "epoch"]
    return both.sort_values(order)[EPOCH_COLUMNS].reset_index(drop=True)


def epochs_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One verdict per problem, optimizer and device from the per-epoch comparison.

    Args:
        table: The ``paper_epochs`` table.

    Returns:
        :data:`SUMMARY_COLUMNS`: how many epoch-metric rows lie inside the paper's band,
        which metrics lie outside somewhere (with the epochs), and ``agrees`` (all inside)
        or ``differs``.
    """
    rows = []
    for (problem, optimizer, device), part in table.groupby(
        ["problem", "optimizer", "device"], sort=True
    ):
        outside = part[~part.inside_band.astype(bool)]
        where = [
            f"{metric} ({', '.join(f'{e}:{v}' for e, v in zip(g.epoch, g.verdict, strict=True))})"
            for metric, g in outside.groupby("metric", sort=True)
        ]
        rows.append(
            {
                "problem": problem,
                "optimizer": optimizer,
                "device": device,
                "epochs": f"{part.epoch.min()}-{part.epoch.max()}",
                "seeds": int(part.seeds.min()),
                "rows": len(part),
                "inside": int(part.inside_band.astype(bool).sum()),
                "outside": len(outside),
                "outside_metrics": "; ".join(where),
                "verdict": "agrees" if outside.empty else "differs",
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def tables(tables: Path, tolerance: dict[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """The ``paper`` table set: our results beside the paper's published ones.

    Args:
        tables: The folder holding the study's ``final_metrics``, ``curves`` and ``runs``.
        tolerance: Widening of the paper's quartile band per quantity (``paper_epochs``).

    Returns:
        ``paper_comparison``, ``paper_epochs``, ``paper_epochs_summary`` and the long-form
        ``paper_curves``.
    """
    folder = Path(tables)
    curves_table, runs = pd.read_csv(folder / "curves.csv"), pd.read_csv(folder / "runs.csv")
    per_epoch = epochs(curves_table, runs, tolerance)
    return {
        "paper_comparison": comparison(pd.read_csv(folder / "final_metrics.csv"), runs),
        "paper_epochs": per_epoch,
        "paper_epochs_summary": epochs_summary(per_epoch),
        "paper_curves": comparison_curves(curves_table, runs),
    }
