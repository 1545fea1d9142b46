"""The end-to-end cost of a run: training steps with their data, evaluation, set-up.

The overhead benchmark (``bench/``) times regions of one step on random inputs; this
one times what a user's run spends, through the training loop itself
(:func:`ggnbench.run.train.run`): for every (problem, optimizer) of a study, a run of
``steps`` steps on the problem's data, ended by one evaluation of every split, once per
data/evaluation path, the paths interleaved round after round so that their ratios are
measured side by side. From the per-step median, the evaluation time and the set-up
(data loading, model) it extrapolates one epoch, one run of the study's length, the
final seeds of a problem (its panel) and the whole study (tuning grid included).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ggnbench.errors import GGNBenchError

#: Path variants: ``data_path/eval_path``; the first is the reference of the ratios.
PATHS = ("pil/exact", "tensor/fast")


def parse_path(path: str) -> dict[str, str]:
    """The RunConfig fields of a path variant.

    Args:
        path: ``data_path/eval_path``, e.g. ``tensor/fast``.

    Returns:
        ``{"data_path": ..., "eval_path": ...}``.

    Raises:
        GGNBenchError: If the variant does not have that form.
    """
    from ggnbench.checks import values
    from ggnbench.workload.evaluation import EvalPath
    from ggnbench.workload.tensordata import DataPath

    data_path, _, eval_path = path.partition("/")
    if data_path not in values(DataPath) or eval_path not in values(EvalPath):
        raise GGNBenchError(
            f"unknown path {path!r}; write DATA/EVAL with DATA one of {list(values(DataPath))} "
            f"and EVAL one of {list(values(EvalPath))}, e.g. tensor/fast"
        )
    return {"data_path": data_path, "eval_path": eval_path}


def plan(config: dict[str, Any], device: str) -> list[dict[str, Any]]:
    """The measured cases of a study on one device.

    Args:
        config: Validated study configuration with its ``epoch_bench`` section.
        device: Device name.

    Returns:
        One case per (problem, optimizer) the section selects: ``run`` (RunConfig fields
        of the measured run: the first grid point, ``steps`` steps, one evaluation at the
        end) and ``study`` (the real runs' length, evaluation interval and count).
    """
    from ggnbench.workflow import study

    section = config["epoch_bench"]
    problems = section.get("problems") or list(config["problems"])
    optimizers = section.get("optimizers") or list(config["optimizers"])
    cases = []
    for problem, optimizer in study.pairs(config):
        if problem not in problems or optimizer not in optimizers:
            continue
        point = study.hparam_grid(config, problem, optimizer)[0]
        fields = study.run_config(config, problem, optimizer, point, device,
                                  config["tuning_seed"])  # fmt: skip
        real = {
            "steps": fields["steps"],
            "epochs": fields["epochs"],
            "eval_every": fields["eval_every"],
            "tune_runs": len(study.runs(config, "tune", problem, optimizer, device)),
            "final_runs": len(study.runs(config, "final", problem, optimizer, device)),
        }
        fields.update(steps=section["steps"], epochs=None, eval_every=0)
        cases.append({"run": fields, "study": real})
    return cases


def _run_length(real: dict[str, Any], steps_per_epoch: int) -> tuple[int, int]:
    """(training steps, evaluations) of one real run."""
    total = real["steps"] if real["steps"] is not None else real["epochs"] * steps_per_epoch
    every = steps_per_epoch if real["eval_every"] == "epoch" else real["eval_every"]
    evaluations = 1 + (math.ceil(total / every) if every else 0)
    return total, evaluations


def measure(
    cases: list[dict[str, Any]],
    repeats: int,
    paths: tuple[str, ...] = PATHS,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Time every case on every path, ``repeats`` rounds, paths interleaved in each round.

    Before the rounds, the first case runs two untimed steps on every path (warm-up).

    Args:
        cases: From :func:`plan`.
        repeats: Rounds.
        paths: Path variants (:func:`parse_path`).
        progress: Called with a line after each measured run.

    Returns:
        One row per (case, path, round): the run's medians and totals and the real
        run's length.

    Raises:
        GGNBenchError: On an invalid path, case or repeat count, or a run that trained
            no step.
    """
    from ggnbench.run.config import RunConfig
    from ggnbench.run.train import run

    if repeats < 1:
        raise GGNBenchError(f"repeats must be a positive integer, got {repeats!r}")
    variants = {path: parse_path(path) for path in paths}
    if cases:  # untimed: the process's first run pays for imports and lazy initialization
        for fields in variants.values():
            run(RunConfig(**{**cases[0]["run"], **fields, "steps": 2}))
    rows = []
    for repeat in range(repeats):
        for case in cases:
            for path, fields in variants.items():
                cfg = RunConfig(**{**case["run"], **fields})
                start = time.perf_counter()
                result = run(cfg)
                wall = time.perf_counter() - start
                summary = result.summary
                if not summary["steps_done"]:
                    raise GGNBenchError(
                        f"{cfg.problem}/{cfg.optimizer} trained no step ({result.status}); "
                        "the end-to-end benchmark needs a run that trains"
                    )
                spe = result.resolved["steps_per_epoch"]
                total, evaluations = _run_length(case["study"], spe)
                rows.append({
                    "problem": cfg.problem, "optimizer": cfg.optimizer,
                    "device": result.resolved["device"], "path": path, "repeat": repeat,
                    "status": result.status, "steps": summary["steps_done"],
                    "step_s": summary["median_step_s"], "step_s_q1": summary["step_s_q1"],
                    "step_s_q3": summary["step_s_q3"], "data_s": summary["median_data_s"],
                    "optimizer_s": summary["median_optimizer_step_s"],
                    "eval_s": summary["median_eval_s"],
                    "setup_s": wall - summary["total_time_s"],
                    "steps_per_epoch": spe, "run_steps": total, "run_evaluations": evaluations,
                    "tune_runs": case["study"]["tune_runs"],
                    "final_runs": case["study"]["final_runs"],
                    "threads": result.resolved["threads"],
                })  # fmt: skip
                if progress is not None:
                    progress(
                        f"round {repeat + 1}/{repeats} {cfg.problem}/{cfg.optimizer} {path}: "
                        f"step {summary['median_step_s'] * 1e3:.2f} ms, "
                        f"evaluation {summary['median_eval_s']:.2f} s"
                    )
    return pd.DataFrame(rows)


def _costs(raw: pd.DataFrame) -> pd.DataFrame:
    """Per row: an epoch and a real run from the measured parts, and their split."""
    frame = raw.copy()
    evals_per_epoch = frame.run_evaluations / (frame.run_steps / frame.steps_per_epoch)
    frame["epoch_s"] = frame.steps_per_epoch * frame.step_s + evals_per_epoch * frame.eval_s
    frame["run_s"] = (
        frame.run_steps * frame.step_s + frame.run_evaluations * frame.eval_s + frame.setup_s
    )
    parts = pd.DataFrame({
        "step": frame.run_steps * (frame.step_s - frame.data_s),
        "data": frame.run_steps * frame.data_s + frame.setup_s,
        "evaluation": frame.run_evaluations * frame.eval_s,
    })  # fmt: skip
    frame["dominant"] = parts.idxmax(axis=1)
    frame["dominant_share"] = parts.max(axis=1) / parts.sum(axis=1)
    return frame


KEYS = ["problem", "optimizer", "device", "path"]


def cost_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Median over rounds per (problem, optimizer, device, path), with the epoch's IQR.

    Args:
        raw: From :func:`measure`.

    Returns:
        The ``epoch_cost`` table.
    """
    frame = _costs(raw)
    grouped = frame.groupby(KEYS, sort=False)
    table = grouped.agg(
        rounds=("repeat", "size"),
        steps_per_epoch=("steps_per_epoch", "first"),
        step_ms=("step_s", "median"),
        data_ms=("data_s", "median"),
        optimizer_ms=("optimizer_s", "median"),
        eval_s=("eval_s", "median"),
        setup_s=("setup_s", "median"),
        epoch_s=("epoch_s", "median"),
        epoch_s_q1=("epoch_s", lambda s: s.quantile(0.25)),
        epoch_s_q3=("epoch_s", lambda s: s.quantile(0.75)),
        run_h=("run_s", "median"),
        dominant=("dominant", lambda s: s.mode().iloc[0]),
        dominant_share=("dominant_share", "median"),
    ).reset_index()
    for column in ("step_ms", "data_ms", "optimizer_ms"):
        table[column] *= 1e3
    table["run_h"] /= 3600
    return table


def speedup_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Each path against the first, round by round: median and IQR of the paired ratios.

    Args:
        raw: From :func:`measure`.

    Returns:
        The ``epoch_speedup`` table: ``epoch_ratio`` below 1 is faster than the reference.
    """
    frame = _costs(raw)
    reference = frame.path.iloc[0]
    base = frame[frame.path == reference].set_index(["problem", "optimizer", "device", "repeat"])
    rows = []
    for path, part in frame[frame.path != reference].groupby("path", sort=False):
        part = part.set_index(["problem", "optimizer", "device", "repeat"])
        ratios = pd.DataFrame({
            f"{q}_ratio": part[column] / base[column]
            for q, column in (("epoch", "epoch_s"), ("step", "step_s"), ("eval", "eval_s"),
                              ("setup", "setup_s"))
        })  # fmt: skip
        for (problem, optimizer, device), group in ratios.groupby(level=[0, 1, 2], sort=False):
            row = {"problem": problem, "optimizer": optimizer, "device": device,
                   "reference": reference, "path": path, "rounds": len(group)}  # fmt: skip
            for column in ratios.columns:
                row[column] = group[column].median()
            row["epoch_ratio_q1"] = group.epoch_ratio.quantile(0.25)
            row["epoch_ratio_q3"] = group.epoch_ratio.quantile(0.75)
            rows.append(row)
    return pd.DataFrame(rows)


def panel_table(raw: pd.DataFrame) -> pd.DataFrame:
    """What each problem's final seeds (its panel) and the whole study cost, per path.

    Args:
        raw: From :func:`measure`.

    Returns:
        The ``epoch_panel`` table: core-hours (device-hours on a GPU) of the final runs
        and of tuning plus final runs, per problem and in all.
    """
    table = cost_table(raw)
    runs = raw.groupby(KEYS, sort=False)[["tune_runs", "final_runs"]].first().reset_index()
    table = table.merge(runs, on=KEYS)
    table["final_h"] = table.run_h * table.final_runs
    table["study_h"] = table.run_h * (table.final_runs + table.tune_runs)
    sums = {c: (c, "sum") for c in ("final_runs", "tune_runs", "final_h", "study_h")}
    per_problem = (
        table.groupby(["problem", "device", "path"], sort=False)
        .agg(optimizers=("optimizer", "size"), **sums)
        .reset_index()
    )
    total = (
        per_problem.groupby(["device", "path"], sort=False)
        .agg(optimizers=("optimizers", "sum"), **sums)
        .reset_index()
        .assign(problem="all")
    )
    return pd.concat([per_problem, total[per_problem.columns]], ignore_index=True)


def read(paths: list[str]) -> pd.DataFrame:
    """The measurements of one or more devices.

    Args:
        paths: CSV files written by ``ggnbench epoch-bench``.

    Returns:
        Their rows.

    Raises:
        GGNBenchError: If a file is missing or holds no measurement.
    """
    frames = []
    for path in paths:
        try:
            frame = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise GGNBenchError(
                f"cannot read the end-to-end measurements {path}: {err}; rerun the workflow"
            ) from err
        missing = sorted({*KEYS, "repeat", "step_s", "eval_s"} - set(frame.columns))
        if frame.empty or missing:
            raise GGNBenchError(
                f"{path} holds no end-to-end measurement (missing {missing}); rerun the workflow"
            )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def damage(path: str | Path) -> str | None:
    """Why a measurement file cannot be used (for :func:`ggnbench.workflow.heal.heal`).

    Args:
        path: A file written by ``ggnbench epoch-bench``.

    Returns:
        The reason, or None.
    """
    try:
        read([str(path)])
    except GGNBenchError as err:
        return str(err).split(";")[0]
    return None


def tables(csv: list[str]) -> dict[str, pd.DataFrame]:
    """The end-to-end table set (``ggnbench tables epoch``).

    Args:
        csv: Measurement files.

    Returns:
        ``epoch_cost``, ``epoch_speedup`` and ``epoch_panel``.
    """
    raw = read(csv)
    return {
        "epoch_cost": cost_table(raw),
        "epoch_speedup": speedup_table(raw),
        "epoch_panel": panel_table(raw).replace({np.inf: np.nan}),
    }
