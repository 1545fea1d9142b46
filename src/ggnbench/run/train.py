"""One training run: the loop shared by every optimizer. Returns records; writes nothing.

The order of random-number use follows BackPACK's DiagGGN example: seed, build the
loaders, build the model, then iterate (each epoch's iterator draws its shuffling
seed from torch's global RNG, and DiagGGNMC draws its Monte-Carlo samples from it).
``optim.prepare`` and ``optim.backward`` give each optimizer what its step needs: only
those declaring BackPACK extensions extend the model and enter ``backpack(...)``; DiagGGN's
native backend attaches its hooks instead (and draws its samples as DiagGGNMC does).
"""

from __future__ import annotations

import math
import resource
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from ggnbench import defaults
from ggnbench.checks import check_positive
from ggnbench.devices import note_busy_cores, resolve_device, synchronize
from ggnbench.errors import GGNBenchError, StepFailure
from ggnbench.optimizers import plugins
from ggnbench.optimizers.curvature import CurvatureOptimizer
from ggnbench.optimizers.feasibility import check_feasible
from ggnbench.optimizers.optim import (
    backward,
    build_from_class,
    build_optimizer,
    get_spec,
    prepare,
)
from ggnbench.workload.evaluation import EVAL_PATHS, evaluate, fast_batch_size
from ggnbench.workload.loaders import EVALUATIONS, NO_HOLDOUT, make_loaders
from ggnbench.workload.problems import Problem, get_problem
from ggnbench.workload.tensordata import DATA_PATHS

# BackPACK's hooks on the first layer fire although inputs need no gradient; harmless.
warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)

#: Validation holdouts: the problem's fixed permutation, or one drawn with the run's seed.
HOLDOUTS = ("fixed", "per_seed", "none")

#: Progress callback: (steps done, steps total, last minibatch loss).
StepCallback = Callable[[int, int, float], None]


@dataclass
class RunConfig:
    """Everything that defines one run; saved verbatim in ``run.json``.

    Attributes:
        problem: Problem name.
        optimizer: Optimizer name: the registry name, or the study's config key.
        lr: Learning rate.
        hparams: The optimizer's other hyperparameters, name to value: those of its
            registry entry (:attr:`~ggnbench.optimizers.optim.OptimizerSpec.hyperparams`;
            ``damping``, ``momentum``, ...), or the constructor arguments besides
            ``params`` and ``lr`` of a class named by import path. One absent takes the
            optimizer's own default.
        allow_large_curvature: Run a curvature whose dense backpropagated matrices exceed
            the limit (KFRA on convolutional networks) instead of refusing it.
        weight_decay: L2 on weights; None takes the problem's default.
        seed: Seed set before loaders and model are built.
        device: ``cpu``, ``cuda`` or ``auto``.
        steps: Number of optimizer steps (exclusive with ``epochs``).
        epochs: Number of passes over the training set.
        batch_size: Training batch size; None takes the problem's default.
        eval_every: Evaluate every this many steps (0: only at the end; ``"epoch"``: once
            per pass over the training set, as DeepOBS does).
        eval_batch_size: Batch size of evaluation passes.
        keep_grad: Never zero gradients (the published example's behaviour).
        holdout: ``fixed`` validation holdout (the problem's own permutation) or
            ``per_seed`` (drawn with the run's seed, as DeepOBS does).
        evaluation: ``ggnbench`` or ``deepobs`` (DeepOBS's evaluation loaders and
            train-eval draws; see :func:`ggnbench.workload.loaders.make_loaders`).
        data_path: ``tensor`` (splits without augmentation held as one tensor on the
            run's device) or ``pil`` (torchvision's per-image path); the same batches
            bitwise (see :mod:`ggnbench.workload.tensordata`).
        eval_path: ``fast`` or ``exact`` (see :func:`evaluate`).
        data_root: Data root folder.
        download: Whether missing data may be downloaded.
        threads: torch intra-op threads; None leaves torch's default.
        optimizer_class: What builds the optimizer when ``optimizer`` is not itself a
            registry name: a registry name, or ``package.module:Class`` (any torch
            optimizer; see :mod:`ggnbench.optimizers.plugins`).
    """

    problem: str
    optimizer: str
    lr: float
    hparams: dict[str, Any] = field(default_factory=dict)
    weight_decay: float | None = None
    seed: int = defaults.SEED
    device: str = defaults.DEVICE
    steps: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    eval_every: int | str = defaults.EVAL_EVERY
    eval_batch_size: int = defaults.EVAL_BATCH_SIZE
    keep_grad: bool = False
    holdout: str = defaults.HOLDOUT
    evaluation: str = defaults.EVALUATION
    data_path: str = defaults.DATA_PATH
    eval_path: str = defaults.EVAL_PATH
    data_root: str = "data"
    download: bool = True
    threads: int | None = None
    allow_large_curvature: bool = False
    optimizer_class: str | None = None

    @property
    def kind(self) -> str:
        """What builds the optimizer: ``optimizer_class``, else the ``optimizer`` name."""
        return self.optimizer_class or self.optimizer

    def validate(self) -> None:
        """Check names and numbers before any data is touched.

        Raises:
            GGNBenchError: On the first invalid field.
        """
        get_problem(self.problem)
        check_positive("lr", self.lr)
        if plugins.is_import_path(self.kind):
            self._validate_class()
        else:
            self._validate_builtin()
        if (self.steps is None) == (self.epochs is None):
            raise GGNBenchError("give exactly one of --steps and --epochs")
        counts = ("steps", "epochs", "batch_size", "eval_batch_size", "threads")
        for name in counts:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise GGNBenchError(f"{name} must be a positive integer, got {value!r}")
        if self.eval_every != "epoch" and (
            not isinstance(self.eval_every, int) or self.eval_every < 0
        ):
            raise GGNBenchError(f"eval_every must be 'epoch' or >= 0, got {self.eval_every!r}")
        if self.holdout not in HOLDOUTS:
            raise GGNBenchError(f"unknown holdout {self.holdout!r}; use one of {list(HOLDOUTS)}")
        for name, allowed in (
            ("evaluation", EVALUATIONS),
            ("data_path", DATA_PATHS),
            ("eval_path", EVAL_PATHS),
        ):
            if getattr(self, name) not in allowed:
                raise GGNBenchError(
                    f"unknown {name} {getattr(self, name)!r}; use one of {list(allowed)}"
                )

    def _validate_builtin(self) -> None:
        get_spec(self.kind).check(self.kind, self.hparams)

    def _validate_class(self) -> None:
        cls = plugins.load_class(self.kind)
        plugins.check_hparams(self.kind, cls, ["lr", *self.hparams])

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a plain dictionary.

        Returns:
            Field names to values.
        """
        return asdict(self)


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


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


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


def build(cfg: RunConfig, model: nn.Module, problem: Problem, weight_decay: float) -> Optimizer:
    """The run's optimizer, built-in or named by import path.

    Built-in optimizers get two parameter groups, weights (with the weight decay) and
    biases (without). A class named by import path gets one group of every parameter
    when the weight decay is 0; otherwise the same two groups, each carrying its
    ``weight_decay``, which the optimizer has to read from the group to apply it.

    Args:
        cfg: The run's configuration.
        model: The network.
        problem: Its problem.
        weight_decay: The resolved L2 on weights.

    Returns:
        The optimizer.
    """
    groups = problem.param_groups(model, weight_decay)
    if plugins.is_import_path(cfg.kind):
        params = groups if weight_decay else list(model.parameters())
        return build_from_class(cfg.kind, params, cfg.lr, dict(cfg.hparams))
    return build_optimizer(cfg.kind, groups, lr=cfg.lr, weight_decay=weight_decay, **cfg.hparams)


def closure_step(
    optimizer: Optimizer,
    model: nn.Module,
    loss_fn: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    keep_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``optimizer.step(closure)`` on a mini-batch, for optimizers that take a closure.

    The closure zeroes the gradients (unless ``keep_grad``), recomputes output and loss
    and runs the backward pass in the optimizer's context
    (:func:`~ggnbench.optimizers.optim.backward`).

    Args:
        optimizer: An optimizer whose ``step`` takes a closure.
        model: The network.
        loss_fn: The loss.
        x: Inputs.
        y: Labels.
        keep_grad: Never zero gradients.

    Returns:
        Output and loss of the closure's first evaluation (at the weights before the step),
        detached.

    Raises:
        GGNBenchError: If ``step`` never called the closure.
    """
    evaluations: list[tuple[torch.Tensor, torch.Tensor]] = []

    def closure() -> torch.Tensor:
        if not keep_grad:
            optimizer.zero_grad()
        with torch.enable_grad():
            output = model(x)
            loss = loss_fn(output, y)
            backward(optimizer, loss)
        evaluations.append((output.detach(), loss.detach()))
        return loss

    optimizer.step(closure)
    if not evaluations:
        raise GGNBenchError(
            f"{type(optimizer).__name__}.step(closure) did not call the closure; set "
            "takes_closure = False on the class, or call closure() in step"
        )
    return evaluations[0]


def run(cfg: RunConfig, progress: StepCallback | None = None) -> RunResult:
    """Train once and return the records.

    Args:
        cfg: The run's configuration.
        progress: Called after every step.

    Returns:
        Records, status and summary.

    Raises:
        GGNBenchError: On invalid configuration, missing data or unavailable device.
    """
    cfg.validate()
    device = resolve_device(cfg.device)
    problem = get_problem(cfg.problem)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    weight_decay = problem.weight_decay if cfg.weight_decay is None else cfg.weight_decay

    torch.manual_seed(cfg.seed)
    loaders = make_loaders(
        problem,
        cfg.data_root,
        cfg.batch_size,
        cfg.eval_batch_size,
        cfg.download,
        holdout_seed={"per_seed": cfg.seed, "none": NO_HOLDOUT}.get(cfg.holdout),
        evaluation=cfg.evaluation,
        seed=cfg.seed,
        data_path=cfg.data_path,
        device=device,
    )
    model = problem.model_fn().to(device)
    loss_fn = problem.loss_fn().to(device)
    optimizer = build(cfg, model, problem, weight_decay)
    if isinstance(optimizer, CurvatureOptimizer) and optimizer.backend == "backpack":
        limit = None if cfg.allow_large_curvature else defaults.DENSE_CURVATURE_LIMIT_BYTES
        check_feasible(optimizer.source, model, problem.input_shape, limit)
    model, loss_fn = prepare(optimizer, model, loss_fn)
    with_closure = plugins.takes_closure(optimizer)

    n_train = len(loaders.train.dataset)
    if loaders.train.batch_size > n_train:
        raise GGNBenchError(
            f"batch size {loaders.train.batch_size} exceeds the {n_train} training examples "
            f"of {cfg.problem!r}; use --batch-size {n_train} or less"
        )
    total = cfg.steps if cfg.steps is not None else cfg.epochs * len(loaders.train)
    eval_every = len(loaders.train) if cfg.eval_every == "epoch" else cfg.eval_every
    result = RunResult()
    result.resolved = {
        "device": str(device),
        "batch_size": loaders.train.batch_size,
        "weight_decay": weight_decay,
        "total_steps": total,
        "train_size": len(loaders.train.dataset),
        "valid_size": len(loaders.valid.dataset),
        "test_size": len(loaders.test.dataset),
        "train_eval_size": len(loaders.train_eval.sampler),
        "evaluated_examples": {
            split: len(loader) * loader.batch_size if loader.drop_last else len(loader.sampler)
            for split, loader in (
                ("valid", loaders.valid),
                ("test", loaders.test),
                ("train_eval", loaders.train_eval),
            )
        },
        "steps_per_epoch": len(loaders.train),
        "eval_every": eval_every,
        "data": loaders.data,
        "threads": torch.get_num_threads(),
        "optimizer": {k: v for k, v in optimizer.defaults.items() if _is_json_scalar(v)},
    }
    if plugins.is_import_path(cfg.kind):
        result.resolved["optimizer_origin"] = plugins.origin(cfg.kind)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:  # every check passed: training starts, on cores that may be busy
        note_busy_cores(torch.get_num_threads())

    step_times: list[float] = []
    opt_times: list[float] = []
    data_times: list[float] = []
    eval_times: list[float] = []
    train_time = 0.0
    wall_start = time.perf_counter()

    eval_batch = fast_batch_size(device, cfg.eval_batch_size)

    def log_eval(step: int) -> None:
        t_eval = time.perf_counter()
        splits = [("valid", loaders.valid), ("test", loaders.test)]
        splits.append(("train_eval", loaders.train_eval))
        for split, loader in splits:
            if not len(loader.sampler):  # no holdout, or no train-eval subset
                continue
            loss, acc = evaluate(model, loss_fn, loader, device, cfg.eval_path, eval_batch)
            result.records.append(
                {"step": step, "split": split, "loss": loss, "accuracy": acc, "time_s": train_time}
            )
            # An update can leave non-finite weights after the last finite minibatch loss.
            if not math.isfinite(loss) and result.status == "ok":
                result.status, result.diverged_at = "diverged", step
        synchronize(device)
        eval_times.append(time.perf_counter() - t_eval)

    if eval_every:
        log_eval(0)
    model.train()
    step = 0
    while step < total and result.status == "ok":
        batches = iter(loaders.train)
        while step < total:
            t0 = time.perf_counter()
            try:
                x, y = next(batches)
            except StopIteration:
                break
            x, y = x.to(device), y.to(device)
            synchronize(device)
            data_times.append(time.perf_counter() - t0)
            if with_closure:  # step() evaluates the loss itself; its first one is recorded
                output, loss = closure_step(optimizer, model, loss_fn, x, y, cfg.keep_grad)
            else:
                if not cfg.keep_grad:
                    optimizer.zero_grad()
                output = model(x)
                loss = loss_fn(output, y)
            with torch.no_grad():
                accuracy = (output.argmax(dim=1) == y).float().mean().item()
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                result.status, result.diverged_at = "diverged", step
                train_time += time.perf_counter() - t0
                result.records.append(
                    {"step": step, "split": "train", "loss": loss_value,
                     "accuracy": accuracy, "time_s": train_time}
                )  # fmt: skip
                break
            t_step = t0
            if not with_closure:
                backward(optimizer, loss)
                synchronize(device)
                t_step = time.perf_counter()
                try:
                    optimizer.step()
                except StepFailure as err:
                    result.status, result.diverged_at, result.failure = "failed", step, str(err)
                    break
            synchronize(device)
            t1 = time.perf_counter()
            opt_times.append(t1 - t_step)
            step_times.append(t1 - t0)
            train_time += t1 - t0
            result.records.append(
                {"step": step, "split": "train", "loss": loss_value,
                 "accuracy": accuracy, "time_s": train_time}
            )  # fmt: skip
            step += 1
            if progress is not None:
                progress(step, total, loss_value)
            if eval_every and step % eval_every == 0 and step < total:
                log_eval(step)
                if result.status != "ok":
                    break
    if result.status == "ok":
        log_eval(step)
    timings = {"step": step_times, "optimizer": opt_times, "data": data_times, "eval": eval_times}
    result.summary = _summary(result, timings, train_time, wall_start, device)
    if isinstance(optimizer, CurvatureOptimizer):
        retries = optimizer.eigh_retries
        result.summary["eigh_float64_retries"] = len(retries)
        result.summary["eigh_retried"] = retries[: defaults.RETRIES_RECORDED]
    return result


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


def _summary(
    result: RunResult,
    timings: dict[str, list[float]],
    train_time: float,
    wall_start: float,
    device: torch.device,
) -> dict[str, Any]:
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
