"""Results to tables: reads run folders, manifests and ``best.json``; never trains.

Every run a manifest lists must exist, and its saved configuration must equal the
one the study asked for; otherwise aggregation stops with a message naming the
folder and the differing fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ggnbench.errors import GGNBenchError
from ggnbench.optimizers import plugins
from ggnbench.run import results

#: Summary fields copied into the runs table.
SUMMARY_FIELDS = (
    "steps_done", "final_valid_accuracy", "final_valid_loss", "final_test_accuracy",
    "final_test_loss", "best_valid_accuracy", "median_step_s", "step_s_q1", "step_s_q3",
    "median_optimizer_step_s", "peak_memory_bytes", "train_time_s", "total_time_s",
)  # fmt: skip
FINAL_METRICS = (
    "final_test_accuracy",
    "final_valid_accuracy",
    "final_test_loss",
    "final_valid_loss",
)
KEYS = ["problem", "optimizer", "device"]


def _run_row(stage: str, entry: dict[str, Any]) -> dict[str, Any]:
    config = entry["config"]
    row = {"stage": stage, **{k: config.get(k) for k in ("problem", "optimizer", "device")}}
    # A damping gets the damping column (and the damping figures), a momentum its own; an
    # optimizer class named by import path also lists its other constructor arguments in
    # one readable column (a built-in's are its registry's, shown by its name).
    extra = dict(config["hparams"])
    row["lr"] = config.get("lr")
    row["damping"] = extra.pop("damping", None)
    row["momentum"] = extra.get("momentum")
    row["seed"] = config.get("seed")
    by_class = plugins.is_import_path(config.get("optimizer_class") or config["optimizer"])
    listed = ", ".join(f"{k}={v}" for k, v in sorted(extra.items())) if by_class else ""
    row["hparams"] = listed or None
    row.update({"run": entry["out"], "status": entry["status"]})
    row["protocol"] = entry.get("protocol", "tuning" if stage == "tune" else "tuned")
    if entry["status"] == "no_best":
        return row
    info = entry["info"]
    row["status"] = info["status"]
    row["diverged_at"] = info.get("diverged_at")
    row["steps_per_epoch"] = info.get("resolved", {}).get("steps_per_epoch")
    row.update({k: info["summary"].get(k) for k in SUMMARY_FIELDS})
    return row


def collect_runs(tune: list[str | Path], final: list[str | Path]) -> pd.DataFrame:
    """One row per run listed in the manifests.

    Args:
        tune: Tuning-stage manifests.
        final: Final-stage manifests.

    Returns:
        The runs table.

    Raises:
        GGNBenchError: If a run is missing or does not match its planned configuration.
    """
    rows = []
    for stage, paths in (("tune", tune), ("final", final)):
        rows += [_run_row(stage, entry) for entry in results.manifest_runs(paths)]
    return pd.DataFrame(rows)


def bootstrap_ci(values: np.ndarray, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean.

    Args:
        values: Sample.
        level: Confidence level.
        seed: Seed of the resampling.

    Returns:
        (low, high); NaN for fewer than two values; the value itself when all are equal.
    """
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float("nan"), float("nan")
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    res = stats.bootstrap(
        (values,), np.mean, confidence_level=level, method="percentile",
        rng=np.random.default_rng(seed),
    )  # fmt: skip
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def final_metrics(runs: pd.DataFrame) -> pd.DataFrame:
    """Final-seed statistics per problem x optimizer x device.

    Args:
        runs: The runs table.

    Returns:
        One row per (problem, optimizer, device, metric): the protocol (``tuned`` or
        ``fixed``) and the point (lr, damping) the seeds ran at, n, median, q1, q3, mean,
        95% bootstrap CI of the mean, and the number of diverged seeds.
    """
    final = runs[runs.stage == "final"]
    rows = []
    for key, group in final.groupby(KEYS, sort=False):
        ok = group[group.status == "ok"]
        for metric in FINAL_METRICS:
            values = ok[metric].dropna().to_numpy(dtype=float)
            low, high = bootstrap_ci(values)
            rows.append(
                {
                    **dict(zip(KEYS, key, strict=True)),
                    "protocol": group.protocol.iloc[0] if "protocol" in group else None,
                    "lr": group.lr.iloc[0] if "lr" in group else None,
                    "damping": group.damping.iloc[0] if "damping" in group else None,
                    "hparams": group.hparams.iloc[0] if "hparams" in group else None,
                    "metric": metric,
                    "n": len(values),
                    "diverged": int((group.status == "diverged").sum()),
                    "median": np.median(values) if len(values) else np.nan,
                    "q1": np.quantile(values, 0.25) if len(values) else np.nan,
                    "q3": np.quantile(values, 0.75) if len(values) else np.nan,
                    "mean": values.mean() if len(values) else np.nan,
                    "ci95_low": low,
                    "ci95_high": high,
                }
            )
    return pd.DataFrame(rows)


def time_per_step(runs: pd.DataFrame, baseline: str = "sgd") -> pd.DataFrame:
    """Time per training step per problem x optimizer x device, and its ratio to SGD.

    Args:
        runs: The runs table.
        baseline: Optimizer the ratio divides by, on the same problem and device.

    Returns:
        Median over final seeds of each run's median step time (with the medians
        of each run's quartiles), the optimizer's own ``step()`` share, and the ratio.
    """
    final = runs[(runs.stage == "final") & (runs.status == "ok")]
    table = (
        final.groupby(KEYS, sort=False)
        .agg(
            n=("median_step_s", "size"),
            median_step_s=("median_step_s", "median"),
            step_s_q1=("step_s_q1", "median"),
            step_s_q3=("step_s_q3", "median"),
            optimizer_step_s=("median_optimizer_step_s", "median"),
        )
        .reset_index()
    )
    table["optimizer_step_fraction"] = table.optimizer_step_s / table.median_step_s
    base = table[table.optimizer == baseline].set_index(["problem", "device"]).median_step_s
    table[f"ratio_to_{baseline}"] = [
        row.median_step_s / base.get((row.problem, row.device), np.nan)
        for row in table.itertuples()
    ]
    return table


def load_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Every logged row of every finished final-seed run, with the run's identity.

    Args:
        runs: The runs table.

    Returns:
        Tidy metrics with problem, optimizer, device and seed columns.
    """
    final = runs[(runs.stage == "final") & runs.status.isin(["ok", "diverged"])]
    frames = []
    for row in final.itertuples():
        metrics = results.read_metrics(row.run)
        metrics.insert(0, "seed", row.seed)
        for i, key in enumerate(KEYS):
            metrics.insert(i, key, getattr(row, key))
        frames.append(metrics)
    if not frames:
        return pd.DataFrame(columns=[*KEYS, "seed", *results.METRIC_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def time_to_target(curves: pd.DataFrame, targets: dict[str, float]) -> pd.DataFrame:
    """Steps and seconds until validation accuracy first reaches the problem's target.

    Args:
        curves: Output of :func:`load_curves`.
        targets: Target validation accuracy per problem.

    Returns:
        Per problem x optimizer x device: target, runs, runs reaching it, runs not
        reaching it, and the median steps and seconds over the runs that reach it.
    """
    rows = []
    valid = curves[curves.split == "valid"]
    for key, group in valid.groupby(KEYS, sort=False):
        target = targets.get(key[0])
        if target is None:
            continue
        steps, seconds, n_runs = [], [], 0
        for _, run in group.groupby("seed"):
            n_runs += 1
            hit = run[run.accuracy >= target]
            if len(hit):
                steps.append(hit.step.iloc[0])
                seconds.append(hit.time_s.iloc[0])
        rows.append(
            {
                **dict(zip(KEYS, key, strict=True)),
                "target_valid_accuracy": target,
                "runs": n_runs,
                "reached": len(steps),
                "not_reached": n_runs - len(steps),
                "median_steps": float(np.median(steps)) if steps else np.nan,
                "median_seconds": float(np.median(seconds)) if seconds else np.nan,
            }
        )
    return pd.DataFrame(rows)


def diverged_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """Diverged runs per grid point (tuning) and per best point (final seeds).

    Args:
        runs: The runs table.

    Returns:
        Counts per stage, problem, optimizer, device, lr and damping.
    """
    return (
        runs.assign(diverged=runs.status == "diverged")
        .groupby(["stage", *KEYS, "lr", "damping"], sort=False, dropna=False)
        .agg(runs=("status", "size"), diverged=("diverged", "sum"))
        .reset_index()
    )


def seed_example(
    run_dirs: dict[str, str | Path], published: dict[str, list[float]], data_label: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference example's trace beside its published numbers.

    Args:
        run_dirs: Run folder per variant (``published``, ``corrected``).
        published: ``step``, ``loss`` and ``accuracy`` lists of the published output.
        data_label: Which data the runs used (``MNIST`` or a synthetic stand-in).

    Returns:
        (table at the published steps, full trace of every variant).
    """
    traces = []
    for variant, folder in run_dirs.items():
        metrics = results.read_metrics(folder)
        train = metrics[metrics.split == "train"][["step", "loss", "accuracy"]]
        traces.append(train.assign(variant=variant, data=data_label))
    trace = pd.concat(traces, ignore_index=True)
    table = pd.DataFrame(
        {
            "step": published["step"],
            "paper_loss": published["loss"],
            "paper_accuracy": published["accuracy"],
        }
    )
    for variant in run_dirs:
        ours = trace[trace.variant == variant].set_index("step")
        table[f"ours_{variant}_loss"] = [ours.loss.get(s, np.nan) for s in table.step]
        table[f"ours_{variant}_accuracy"] = [ours.accuracy.get(s, np.nan) for s in table.step]
    table["data"] = data_label
    return table, trace


def study_tables(
    tune: list[str], final: list[str], targets: dict[str, float]
) -> dict[str, pd.DataFrame]:
    """The ``study`` table set: every run and what the study's tables make of them.

    Args:
        tune: Tuning manifests.
        final: Final-seed manifests.
        targets: Target validation accuracy per problem (for time to target).

    Returns:
        ``runs``, ``final_metrics``, ``time_per_step``, ``time_to_target``, ``diverged``
        and the long-form ``curves``.
    """
    runs = collect_runs(tune, final)
    curves = load_curves(runs)
    return {
        "runs": runs,
        "final_metrics": final_metrics(runs),
        "time_per_step": time_per_step(runs),
        "time_to_target": time_to_target(curves, targets),
        "diverged": diverged_counts(runs),
        "curves": curves,
    }


def seed_example_tables(
    run: list[str], published: dict[str, Any], data_label: str
) -> dict[str, pd.DataFrame]:
    """The ``seed-example`` table set: the reference example beside the published numbers.

    Args:
        run: ``VARIANT=RUN_FOLDER`` pairs.
        published: The published ``step``, ``loss`` and ``accuracy`` lists.
        data_label: Which data the runs used (for the table's caption column).

    Returns:
        ``seed_example`` and the long-form ``seed_example_trace``.

    Raises:
        GGNBenchError: If a pair lacks its ``=``.
    """
    bad = [item for item in run if "=" not in item]
    if bad:
        raise GGNBenchError(f"--run takes VARIANT=RUN_FOLDER pairs, got {bad}")
    table, trace = seed_example(dict(item.split("=", 1) for item in run), published, data_label)
    return {"seed_example": table, "seed_example_trace": trace}
