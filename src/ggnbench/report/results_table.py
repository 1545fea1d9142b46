"""The study's results: one row per problem, device and optimizer, and which is best.

Reads whatever tables exist (``final_metrics``, ``time_per_step``, ``time_to_target``,
``paper_comparison``, ``paper_epochs_summary``). Per problem and device, each optimizer's
final test accuracy (median and quartiles over the final seeds), its chosen setting, its
time per step relative to SGD, its time to the target accuracy and the verdict against the
paper; :mod:`ggnbench.report.summary` renders them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ggnbench.report.styles import optimizer_styles

#: The optimizer every step time is divided by.
BASELINE = "sgd"
#: The tables the results table reads; missing ones leave their columns empty.
TABLES = ("final_metrics", "time_per_step", "time_to_target", "paper_comparison",
          "paper_epochs_summary")  # fmt: skip


def read_table(tables: Path, name: str) -> pd.DataFrame:
    """One table of the tables folder; an empty frame where it is missing or empty."""
    path = Path(tables) / f"{name}.csv"
    if not path.exists():
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _setting(row: pd.Series) -> str:
    parts = [f"lr {row.lr:g}"]
    if "damping" in row and pd.notna(row.damping):
        parts.append(f"damping {row.damping:g}")
    if "hparams" in row and isinstance(row.hparams, str) and row.hparams:
        parts.append(row.hparams)
    protocol = row.get("protocol")
    return ", ".join(parts) + (f" ({protocol})" if isinstance(protocol, str) else "")


def results(tables: str | Path) -> pd.DataFrame:
    """One row per problem, device and optimizer: what the report and the terminal show.

    Args:
        tables: The tables folder.

    Returns:
        Columns ``problem, device, optimizer, label`` (the figures' name of the optimizer,
        :mod:`ggnbench.report.styles`), ``seeds, diverged, accuracy, q1, q3, setting,
        step_ratio, step_ms, target, reached, runs, steps_to_target, seconds_to_target,
        paper``; empty when no final run has been aggregated.
    """
    frames = {name: read_table(Path(tables), name) for name in TABLES}
    final = frames["final_metrics"]
    if final.empty:
        return pd.DataFrame()
    key = ["problem", "device", "optimizer"]
    accuracy = final[final.metric == "final_test_accuracy"]
    table = pd.DataFrame(
        {
            **{k: accuracy[k] for k in key},
            "seeds": accuracy.n,
            "diverged": accuracy.diverged,
            "accuracy": accuracy["median"],
            "q1": accuracy.q1,
            "q3": accuracy.q3,
            "setting": accuracy.apply(_setting, axis=1),
        }
    )
    steps = frames["time_per_step"]
    if not steps.empty:
        steps = steps.assign(step_ratio=steps.ratio_to_sgd, step_ms=steps.median_step_s * 1e3)
        table = table.merge(steps[[*key, "step_ratio", "step_ms"]], on=key, how="left")
    target = frames["time_to_target"]
    if not target.empty:
        target = target.rename(columns={"target_valid_accuracy": "target",
                                        "median_steps": "steps_to_target",
                                        "median_seconds": "seconds_to_target"})  # fmt: skip
        columns = [*key, "target", "reached", "runs", "steps_to_target", "seconds_to_target"]
        table = table.merge(target[columns], on=key, how="left")
    table["paper"] = [_paper_verdict(frames, row) for row in table.itertuples()]
    styles = optimizer_styles(table.optimizer)
    table.insert(3, "label", [styles[name].label for name in table.optimizer])
    return table.reset_index(drop=True)


def _paper_verdict(frames: dict[str, pd.DataFrame], row: Any) -> str:
    """The per-epoch verdict where there is one, else the final-accuracy one, else ''."""
    from ggnbench.report.paper import LABELS

    label = LABELS.get(row.optimizer, row.optimizer)
    for name, what in (("paper_epochs_summary", "per epoch"), ("paper_comparison", "final")):
        frame = frames[name]
        if frame.empty:
            continue
        hit = frame[(frame.problem == row.problem) & (frame.device == row.device)
                    & frame.optimizer.isin([row.optimizer, label])]  # fmt: skip
        if not hit.empty:
            return f"{hit.verdict.iloc[0]} ({what})"
    return ""


def best_line(group: pd.DataFrame) -> str:
    """Which optimizers have the highest median final test accuracy of a problem.

    Args:
        group: The :func:`results` rows of one problem and device (``label``, ``accuracy``).

    Returns:
        ``best: sgd, kfac (0.9833)``, ties named together; or that none finished.
    """
    finite = group[group.accuracy.notna()]
    if finite.empty:
        return "no optimizer reached a finite final test accuracy"
    top = finite.accuracy.max()
    names = ", ".join(finite[finite.accuracy == top].label)
    return f"highest median final test accuracy: {names} ({top:.4f})"
