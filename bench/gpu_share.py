"""Several training runs sharing one device: throughput, and where a step's time goes.

A long run spends nearly all its time in steps, so this measures steps, not process
start-up. For each optimizer (default: momentum SGD and DiagGGN-MC, at the Fashion-MNIST
panel's settings from ``config/fmnist.yaml``) and each N in ``--jobs``, N worker processes
train ``fmnist_2c2d`` at once through ggnbench's own loop (:func:`ggnbench.run.train.run`, the
tensor/fast path). After ``--warmup`` steps they meet at a barrier; then each times its
steps for ``--seconds`` (the timed window), and profiles the next ``--profiled`` steps with
``torch.profiler``: the device's busy time is the union of the run's kernel and copy
intervals in that window. The workers are started once and reused for every round, so
rounds do not pay for imports and CUDA start-up.

Per (optimizer, N) it reports, in ``gpu_share.csv``:

* ``steps_per_s``: steps per second over all N runs in the timed window, and
  ``speedup``, that over one run alone;
* ``step_ms`` (median, q1, q3 over every timed step of every run): wall time per step;
* ``busy_ms``: the device's busy time per step of one run (median over the runs) and
  ``busy_fraction``, busy over wall in the profiled window (the profiler's own overhead
  lengthens that wall a little, so the fraction is a lower bound);
* ``device_busy``: the summed busy time of all N runs per second of the timed window
  (kernels of separate processes are time-sliced, so this is the fraction of time the
  device had work, up to overlap), and ``gpu_util``, nvidia-smi's utilization sampled in
  the window, where nvidia-smi exists.

Rows ``optimizer = panel`` combine the measured optimizers as a panel does (every
optimizer trains the same number of steps): the panel's speed-up at N is
sum(1/rate(1)) / sum(1/rate(N)). ``best_jobs.txt`` names the N with the highest panel
throughput, the number for ``profiles/gpu``'s ``gpu_slot``::

    python bench/gpu_share.py --device cuda --jobs 1,2,4,8 --out results/gpu_share

``--device cpu`` runs the same on CPU cores, one thread per worker (to try the script).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PANEL = ROOT / "config" / "fmnist.yaml"
SCHEMA = ROOT / "config" / "schema.yaml"
PROBLEM = "fmnist_2c2d"
BARRIER_TIMEOUT_S = 600.0


class _WindowDone(Exception):
    """Raised from the step callback once a run's profiled window is over (ends the run)."""


def busy_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals.

    Args:
        intervals: Start and end of each interval, in seconds.

    Returns:
        The time covered by at least one interval.
    """
    total, reach = 0.0, -np.inf
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def device_intervals(prof: Any) -> list[tuple[float, float]]:
    """The device-side activity (kernels, copies, sets) a profiler recorded, in seconds."""
    from torch.autograd import DeviceType

    spans = []
    for event in prof.profiler.kineto_results.events():
        # gpu_user_annotation spans cover the gaps between kernels: they are not work
        if event.device_type() == DeviceType.CUDA and "annotation" not in event.activity_type():
            start = event.start_ns() * 1e-9
            spans.append((start, start + event.duration_ns() * 1e-9))
    return spans


def run_fields(config_path: Path, optimizer: str, device: str, data_root: Path) -> dict:
    """RunConfig fields of one run of the panel's optimizer, at the panel's settings."""
    from ggnbench.workflow import study
    from ggnbench.workflow.configcheck import load_study

    config = load_study(config_path, SCHEMA)
    point = study.hparam_grid(config, PROBLEM, optimizer)[0]
    fields = study.run_config(config, PROBLEM, optimizer, point, device, config["tuning_seed"])
    fields.update(data_root=str(data_root), download=False, data_path="tensor", eval_path="fast",
                  eval_every=0, epochs=None, threads=1)  # fmt: skip
    return fields


def session(fields: dict, args: argparse.Namespace, barrier: Any, profile: bool) -> dict:
    """One run in one round: warm-up, barrier, timed window, profiled window."""
    import torch

    from ggnbench.devices import resolve_device, synchronize
    from ggnbench.run.config import RunConfig
    from ggnbench.run.train import run

    device = resolve_device(args.device)
    marks: dict[str, Any] = {"steps": []}
    prof = None
    # Enough steps that the windows end by time, not by the step count.
    total = args.warmup + 10**7

    def on_step(step: int, _total: int, _loss: float) -> None:
        nonlocal prof
        now = time.perf_counter()
        if step == args.warmup:
            synchronize(device)
            barrier.wait(BARRIER_TIMEOUT_S)
            marks["t0"] = marks["last"] = time.perf_counter()
        elif "t0" in marks and "t1" not in marks:
            marks["steps"].append(now - marks["last"])
            marks["last"] = now
            if now - marks["t0"] >= args.seconds:
                synchronize(device)
                marks["t1"] = time.perf_counter()
                marks["timed_steps"] = len(marks["steps"])
                if not profile:
                    raise _WindowDone
                prof = torch.profiler.profile(
                    activities=[torch.profiler.ProfilerActivity.CPU,
                                torch.profiler.ProfilerActivity.CUDA])  # fmt: skip
                prof.start()
                marks["p0"], marks["p_step"] = time.perf_counter(), step
        elif "p0" in marks and step - marks["p_step"] >= args.profiled:
            synchronize(device)
            marks["p1"] = time.perf_counter()
            prof.stop()
            raise _WindowDone

    try:
        run(RunConfig(**{**fields, "steps": total}), progress=on_step)
    except _WindowDone:
        pass
    else:
        raise RuntimeError("the run ended before its windows did")
    out = {"window_s": marks["t1"] - marks["t0"], "timed_steps": marks["timed_steps"],
           "step_s": marks["steps"]}  # fmt: skip
    if prof is not None:
        spans = device_intervals(prof)
        out["profiled_wall_s"] = marks["p1"] - marks["p0"]
        out["profiled_steps"] = args.profiled
        out["busy_s"] = busy_seconds(spans) if spans else float("nan")
        out["device_events"] = len(spans)
    return out


def worker(index: int, rounds: list[dict], barriers: list, ends: list, results: Any,
           args: argparse.Namespace) -> None:  # fmt: skip
    """A worker process: takes part in every round with more than ``index`` runs."""
    import torch

    torch.set_num_threads(1)
    for k, spec in enumerate(rounds):
        if index < spec["jobs"]:
            try:
                fields = {**spec["fields"], "seed": spec["fields"]["seed"] + index}
                row = session(fields, args, barriers[k], profile=not args.no_profile)
                results.put((k, index, row))
            except Exception:  # reported to the parent, which stops the measurement
                barriers[k].abort()
                results.put((k, index, {"error": traceback.format_exc()}))
        ends[k].wait(BARRIER_TIMEOUT_S)


def sample_utilization(stop: threading.Event, samples: list[float]) -> None:
    """nvidia-smi's GPU utilization every 100 ms until ``stop`` is set."""
    proc = subprocess.Popen(
        ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
         "-lms", "100"], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        while not stop.is_set():
            line = proc.stdout.readline()
            if not line:
                break
            if line.strip().isdigit():
                samples.append(float(line.strip()))
    finally:
        proc.terminate()


def summarize(spec: dict, rows: list[dict]) -> dict:
    """One table row from the rows of a round's runs."""
    steps = np.concatenate([r["step_s"] for r in rows]) * 1e3
    rate = sum(r["timed_steps"] / r["window_s"] for r in rows)
    out = {"optimizer": spec["optimizer"], "jobs": spec["jobs"], "steps_per_s": rate,
           "step_ms": np.median(steps), "step_ms_q1": np.percentile(steps, 25),
           "step_ms_q3": np.percentile(steps, 75)}  # fmt: skip
    profiled = [r for r in rows if "busy_s" in r]
    if profiled:
        busy_ms = [r["busy_s"] / r["profiled_steps"] * 1e3 for r in profiled]
        out["busy_ms"] = float(np.median(busy_ms))
        out["busy_fraction"] = float(
            np.median([r["busy_s"] / r["profiled_wall_s"] for r in profiled])
        )
        out["device_busy"] = sum(
            r["busy_s"] / r["profiled_steps"] * r["timed_steps"] / r["window_s"] for r in profiled
        )
    out["gpu_util"] = float(np.mean(spec["util"])) / 100 if spec.get("util") else float("nan")
    return out


def panel_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The measured optimizers combined as a panel: equal steps each, N runs at a time."""
    wide = table.pivot(index="jobs", columns="optimizer", values="steps_per_s").dropna()
    seconds_per_step = (1 / wide).sum(axis=1)
    return pd.DataFrame({"optimizer": "panel", "jobs": wide.index,
                         "steps_per_s": len(wide.columns) / seconds_per_step})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--jobs", default="1,2,4,8", help="runs sharing the device, per round")
    parser.add_argument("--optimizers", default="sgd,diag_ggn_mc",
                        help="optimizers of the panel config to measure")  # fmt: skip
    parser.add_argument("--config", type=Path, default=PANEL)
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps per run and round")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed window per round")
    parser.add_argument("--profiled", type=int, default=20, help="profiled steps per run")
    parser.add_argument("--no-profile", action="store_true", help="no profiled window")
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [int(j) for j in args.jobs.split(",")]
    rounds = [
        {"optimizer": name, "jobs": n,
         "fields": run_fields(args.config, name, args.device, args.data_root)}
        for name in args.optimizers.split(",") for n in jobs
    ]  # fmt: skip
    ctx = mp.get_context("spawn")
    barriers = [ctx.Barrier(spec["jobs"] + 1) for spec in rounds]
    width = max(jobs)
    ends = [ctx.Barrier(width + 1) for _ in rounds]
    results = ctx.Queue()
    workers = [ctx.Process(target=worker, args=(i, rounds, barriers, ends, results, args))
               for i in range(width)]  # fmt: skip
    for proc in workers:
        proc.start()
    smi = shutil.which("nvidia-smi") if args.device.startswith("cuda") else None
    table = []
    try:
        for k, spec in enumerate(rounds):
            try:
                barriers[k].wait(BARRIER_TIMEOUT_S)  # every run of the round is warm
            except threading.BrokenBarrierError:
                _, _, row = results.get(timeout=BARRIER_TIMEOUT_S)
                raise SystemExit(f"error: a run of {spec['optimizer']} x{spec['jobs']} "
                                 f"failed:\n{row.get('error', row)}") from None  # fmt: skip
            samples: list[float] = []
            stop = threading.Event()
            sampler = None
            if smi:
                sampler = threading.Thread(target=sample_utilization, args=(stop, samples))
                sampler.start()
            rows = [results.get(timeout=BARRIER_TIMEOUT_S) for _ in range(spec["jobs"])]
            stop.set()
            errors = [r[2]["error"] for r in rows if "error" in r[2]]
            if errors:
                raise SystemExit(f"error: a run of {spec['optimizer']} x{spec['jobs']} failed:\n"
                                 + errors[0])  # fmt: skip
            spec["util"] = samples
            table.append(summarize(spec, [r[2] for r in rows]))
            ends[k].wait(BARRIER_TIMEOUT_S)
            if sampler is not None:
                sampler.join()
            last = table[-1]
            print(f"{spec['optimizer']} x{spec['jobs']}: {last['steps_per_s']:.0f} steps/s, "
                  f"{last['step_ms']:.2f} ms/step, busy {last.get('busy_ms', float('nan')):.2f}"
                  f" ms/step", flush=True)  # fmt: skip
    finally:
        for proc in workers:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
    frame = pd.DataFrame(table)
    frame = pd.concat([frame, panel_rows(frame)], ignore_index=True)
    one = frame[frame.jobs == min(jobs)].set_index("optimizer").steps_per_s
    frame["speedup"] = frame.steps_per_s / frame.optimizer.map(one)
    frame["device"] = args.device
    frame.to_csv(args.out / "gpu_share.csv", index=False)
    (args.out / "gpu_share.md").write_text(frame.to_markdown(index=False, floatfmt=".3g") + "\n")
    panel = frame[frame.optimizer == "panel"]
    best = int(panel.jobs[panel.steps_per_s.idxmax()])
    (args.out / "best_jobs.txt").write_text(f"{best}\n")
    pd.set_option("display.width", 200)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"best: {best} runs at a time")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
