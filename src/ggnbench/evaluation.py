"""Evaluation passes: mean loss and accuracy of a network over one split.

Two paths (:data:`EVAL_PATHS`): ``exact``, one forward pass per loader batch as ggnbench
always evaluated, and ``fast`` (the default), inference mode with loader batches merged
into larger forward passes (see :func:`evaluate` for what that changes: nothing, or the
loss by float32 rounding).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from ggnbench import defaults
from ggnbench.errors import GGNBenchError

#: How evaluation runs (see :func:`evaluate`).
EVAL_PATHS = ("fast", "exact")


def evaluate(
    model: nn.Module,
    loss_fn: nn.Module,
    loader: DataLoader,
    device: torch.device,
    path: str = defaults.EVAL_PATH,
    batch_size: int = defaults.EVAL_BATCH_SIZE,
) -> tuple[float, float]:
    """Mean loss and accuracy over a data set, in eval mode.

    Both paths iterate the loader once, so they evaluate the same examples and make the
    same random draws (a train-eval sampler's, the loader's base seed). ``exact`` runs
    the network on each loader batch under ``torch.no_grad`` and adds ``loss * n`` batch
    by batch in Python floats. ``fast`` runs under ``torch.inference_mode``, merges
    consecutive loader batches into forward passes of at most ``batch_size`` examples and adds
    the same float64 terms on the device, reading them once at the end. Where the loader
    batches already have ``batch_size`` examples (the ``ggnbench`` protocol), both paths
    compute bitwise the same numbers; where they are smaller (the ``deepobs`` protocol's
    training batch size), the batch mean of the loss is taken over more examples, which
    changes the loss by float32 rounding (relative 1e-5 at most; tested) and leaves the
    accuracy as it is unless a prediction's top two logits tie to rounding.

    Args:
        model: The network.
        loss_fn: Mean-reduced loss.
        loader: Evaluation loader.
        device: Device of the model.
        path: ``fast`` or ``exact``.
        batch_size: Examples per forward pass of the ``fast`` path.

    Returns:
        ``(loss, accuracy)`` averaged over examples.

    Raises:
        GGNBenchError: If the split is empty or the path unknown.
    """
    if path not in EVAL_PATHS:
        raise GGNBenchError(f"unknown evaluation path {path!r}; use one of {list(EVAL_PATHS)}")
    was_training = model.training
    model.eval()
    try:
        if path == "exact":
            with torch.no_grad():
                total_loss, correct, count = _evaluate_exact(model, loss_fn, loader, device)
        else:
            with torch.inference_mode():
                total_loss, correct, count = _evaluate_fast(
                    model, loss_fn, loader, device, batch_size
                )
    finally:
        model.train(was_training)
    if count == 0:
        raise GGNBenchError("an evaluation split is empty; use a larger dataset")
    return total_loss / count, correct / count


def _evaluate_exact(
    model: nn.Module, loss_fn: nn.Module, loader: DataLoader, device: torch.device
) -> tuple[float, int, int]:
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = model(x)
        total_loss += loss_fn(out, y).item() * len(y)
        correct += (out.argmax(dim=1) == y).sum().item()
        count += len(y)
    return total_loss, correct, count


def _evaluate_fast(
    model: nn.Module, loss_fn: nn.Module, loader: DataLoader, device: torch.device, batch_size: int
) -> tuple[float, int, int]:
    total = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    def flush() -> None:
        nonlocal total, correct
        x = torch.cat([b[0] for b in pending]) if len(pending) > 1 else pending[0][0]
        y = torch.cat([b[1] for b in pending]) if len(pending) > 1 else pending[0][1]
        pending.clear()
        out = model(x)
        total = total + loss_fn(out, y).double() * len(y)
        correct = correct + (out.argmax(dim=1) == y).sum()

    waiting = 0
    for x, y in loader:
        if pending and waiting + len(y) > batch_size:
            flush()
            waiting = 0
        pending.append((x.to(device), y.to(device)))
        waiting += len(y)
        count += len(y)
    if pending:
        flush()
    return total.item(), int(correct.item()), count
