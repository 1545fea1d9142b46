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
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from ggnbench import defaults
from ggnbench.devices import note_busy_cores, resolve_device, synchronize
from ggnbench.errors import GGNBenchError, StepFailure
from ggnbench.optimizers import plugins
from ggnbench.optimizers.curvature import Backend, CurvatureOptimizer
from ggnbench.optimizers.feasibility import check_feasible
from ggnbench.optimizers.optim import backward, build_from_class, build_optimizer, prepare
from ggnbench.run.config import RunConfig
from ggnbench.run.outcome import RunResult, summarize
from ggnbench.workload.evaluation import evaluate, fast_batch_size
from ggnbench.workload.loaders import make_loaders
from ggnbench.workload.problems import Problem, get_problem

# BackPACK's hooks on the first layer fire although inputs need no gradient; harmless.
warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)

#: Progress callback: (steps done, steps total, last minibatch loss).
StepCallback = Callable[[int, int, float], None]


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


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
        holdout=cfg.holdout,
        evaluation=cfg.evaluation,
        seed=cfg.seed,
        data_path=cfg.data_path,
        device=device,
    )
    model = problem.model_fn().to(device)
    loss_fn = problem.loss_fn().to(device)
    optimizer = build(cfg, model, problem, weight_decay)
    if isinstance(optimizer, CurvatureOptimizer) and optimizer.backend is Backend.BACKPACK:
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
    result.summary = summarize(result, timings, train_time, wall_start, device)
    if isinstance(optimizer, CurvatureOptimizer):
        retries = optimizer.eigh_retries
        result.summary["eigh_float64_retries"] = len(retries)
        result.summary["eigh_retried"] = retries[: defaults.RETRIES_RECORDED]
    return result
