"""What one run produced: :class:`RunResult`, its summary and the note on its numerics.

The summary (``run.json``'s ``summary``) holds each split's final and best metrics, the
quartiles of the step, optimizer, data and evaluation times, and the peak memory.
"""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class RunResult:
    """What one run produced.

    Attributes:
        records: Tidy rows ``step, split, loss, accuracy, time_s``.
        status: ``ok``, ``diverged`` or ``failed`` (a step that could not be computed).
        diverged_at: Step whose loss was not finite, or that failed, or None.
        failure: The one-line reason of a ``failed`` run.
        summary: Final and best metrics, timings and peak memory.
        resolved: Values filled in from defaults (device, batch size, weight decay, steps).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    diverged_at: int | None = None
    failure: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    resolved: dict[str, Any] = field(default_factory=dict)


def summarize(
    result: RunResult,
    timings: dict[str, list[float]],
    train_time: float,
    wall_start: float,
    device: torch.device,
) -> dict[str, Any]:
    """A run's summary (``run.json``'s ``summary``), from its records and timings.

    Args:
        result: The run's result so far (its ``records`` are read).
        timings: Seconds per step, optimizer step, data fetch and evaluation (keys
            ``step``, ``optimizer``, ``data``, ``eval``).
        train_time: Seconds spent in training steps.
        wall_start: ``time.perf_counter()`` when the timed part of the run began.
        device: The run's device (for its peak memory).

    Returns:
        Steps done, each split's final and best metrics, timing quartiles and sums, and
        the peak memory with its kind.
    """

    def split_rows(split: str) -> list[dict[str, Any]]:
        return [r for r in result.records if r["split"] == split]

    step_times = timings["step"]
    summary: dict[str, Any] = {"steps_done": len(step_times)}
    for split in ("valid", "test", "train_eval"):
        rows = split_rows(split)
        if rows:
            best = max(rows, key=lambda r: r["accuracy"])
            summary.update(
                {
                    f"final_{split}_accuracy": rows[-1]["accuracy"],
                    f"final_{split}_loss": rows[-1]["loss"],
                    f"best_{split}_accuracy": best["accuracy"],
                    f"best_{split}_step": best["step"],
                    f"best_{split}_loss": min(r["loss"] for r in rows),
                }
            )
    q1, med, q3 = _quartiles(step_times)
    _, opt_med, _ = _quartiles(timings["optimizer"])
    _, data_med, _ = _quartiles(timings["data"])
    eval_q1, eval_med, eval_q3 = _quartiles(timings["eval"])
    memory_kind, memory = _peak_memory_bytes(device)
    summary.update(
        {
            "train_time_s": train_time,
            "total_time_s": time.perf_counter() - wall_start,
            "median_step_s": med,
            "step_s_q1": q1,
            "step_s_q3": q3,
            "median_optimizer_step_s": opt_med,
            "median_data_s": data_med,
            "data_time_s": sum(timings["data"]),
            "evaluations": len(timings["eval"]),
            "eval_time_s": sum(timings["eval"]),
            "median_eval_s": eval_med,
            "eval_s_q1": eval_q1,
            "eval_s_q3": eval_q3,
            "peak_memory_bytes": memory,
            "peak_memory_kind": memory_kind,
        }
    )
    return summary


def numerical_note(summary: dict[str, Any]) -> str | None:
    """One line on the eigendecompositions a run recomputed in float64, if any.

    Args:
        summary: A run's summary (``run.json``).

    Returns:
        The line, or None when nothing was retried.
    """
    count = summary.get("eigh_float64_retries", 0)
    if not count:
        return None
    first = summary["eigh_retried"][0]
    return (
        f"note: {count} eigendecomposition(s) returned non-finite values in float32 and were "
        f"recomputed in float64 (first: step {first['step']}, {first['parameter']}, factor "
        f"{first['factor']}); run.json summary.eigh_retried lists them"
    )


def _peak_memory_bytes(device: torch.device) -> tuple[str, int]:
    if device.type == "cuda":
        return "cuda_max_memory_allocated", int(torch.cuda.max_memory_allocated(device))
    return "process_max_rss", int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return v, v, v
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3
