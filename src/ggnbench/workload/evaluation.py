"""Evaluation passes: mean loss and accuracy of a network over one split.

Two paths (:class:`EvalPath`): ``exact``, one forward pass per loader batch under
``torch.no_grad`` as ggnbench always evaluated, and ``fast`` (the default): inference
mode, forward passes of the size that is fastest on the device, and on a CPU a frozen
TorchScript copy of a convolutional network with oneDNN convolutions
(:func:`inference_network`). :func:`evaluate` says what that changes: the loss by float32
rounding, the accuracy only where a prediction's top two logits tie to rounding.
"""

from __future__ import annotations

import copy
import warnings
from enum import StrEnum

import torch
from torch import nn
from torch.utils.data import DataLoader

from ggnbench import defaults
from ggnbench.checks import check_option
from ggnbench.errors import GGNBenchError


class EvalPath(StrEnum):
    """How evaluation runs (see :func:`evaluate`)."""

    FAST = "fast"
    EXACT = "exact"


def fast_batch_size(device: torch.device, eval_batch_size: int) -> int:
    """Examples per forward pass of the fast path on a device.

    A GPU evaluates ``eval_batch_size`` examples at once; a CPU evaluates
    :data:`~ggnbench.defaults.CPU_EVAL_BATCH_SIZE` (measured: larger passes run slower
    there, their activations leave the caches).

    Args:
        device: The run's device.
        eval_batch_size: The run's evaluation batch size.

    Returns:
        The pass size.
    """
    return eval_batch_size if device.type == "cuda" else defaults.CPU_EVAL_BATCH_SIZE


def inference_network(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """The network to evaluate on the fast path, in eval mode.

    On a CPU a network with convolutions is traced, frozen and optimized for inference
    (TorchScript; oneDNN convolutions): a copy, its hooks (BackPACK's) removed, the
    weights baked in, so it is made again at every evaluation. Elsewhere, and where
    tracing fails, the network itself.

    Args:
        model: The network, in eval mode.
        example: One input batch (for the trace).

    Returns:
        A module with the network's outputs.
    """
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    if example.device.type != "cpu" or not has_conv:
        return model
    twin = copy.deepcopy(model)
    for module in twin.modules():
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()
        module._backward_hooks.clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notices
            traced = torch.jit.trace(twin, example, check_trace=False)
            return torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    except (RuntimeError, TypeError):  # not traceable: evaluate the network itself
        return model


def evaluate(
    model: nn.Module,
    loss_fn: nn.Module,
    loader: DataLoader,
    device: torch.device,
    path: EvalPath | str = defaults.EVAL_PATH,
    batch_size: int = defaults.EVAL_BATCH_SIZE,
) -> tuple[float, float]:
    """Mean loss and accuracy over a data set, in eval mode.

    Both paths iterate the loader once, so they evaluate the same examples and make the
    same random draws (a train-eval sampler's, the loader's base seed). ``exact`` runs
    the network on each loader batch under ``torch.no_grad`` and adds ``loss * n`` batch
    by batch in Python floats. ``fast`` runs under ``torch.inference_mode`` the network
    of :func:`inference_network` on forward passes of exactly ``batch_size`` examples (the
    last one fewer), cut from the stream of loader batches, and adds the same float64
    terms on the device, reading them once at the end. Where the passes are the loader's
    batches and the network is not converted (no convolutions, or a GPU), both paths
    compute bitwise the same numbers. Otherwise a pass's mean loss is taken over other
    examples, and oneDNN's convolutions round differently (logits within about 1e-6):
    the loss then differs by float32 rounding (1e-5 of the loss plus 1e-6 at most: the
    tolerance tested), the accuracy only where a prediction's top two logits tie to that
    rounding (1e-3 at most: the tolerance tested, 10 of 10,000 examples).

    Args:
        model: The network.
        loss_fn: Mean-reduced loss.
        loader: Evaluation loader.
        device: Device of the model.
        path: ``fast`` or ``exact``.
        batch_size: Examples per forward pass of the ``fast`` path (see
            :func:`fast_batch_size`).

    Returns:
        ``(loss, accuracy)`` averaged over examples.

    Raises:
        GGNBenchError: If the split is empty or the path unknown.
    """
    path = check_option("evaluation path", EvalPath, path)
    was_training = model.training
    model.eval()
    try:
        if path is EvalPath.EXACT:
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
    network: nn.Module | None = None

    def forward(x: torch.Tensor, y: torch.Tensor) -> None:
        nonlocal total, correct, network
        if network is None:
            network = inference_network(model, x)
        out = network(x)
        total = total + loss_fn(out, y).double() * len(y)
        correct = correct + (out.argmax(dim=1) == y).sum()

    xs: list[torch.Tensor] = []
    ys: list[torch.Tensor] = []
    waiting = count = 0
    for x, y in loader:
        xs.append(x.to(device))
        ys.append(y.to(device))
        waiting += len(y)
        count += len(y)
        if waiting < batch_size:
            continue
        x_all = torch.cat(xs) if len(xs) > 1 else xs[0]
        y_all = torch.cat(ys) if len(ys) > 1 else ys[0]
        full = waiting - waiting % batch_size
        for start in range(0, full, batch_size):
            forward(x_all[start : start + batch_size], y_all[start : start + batch_size])
        xs, ys = ([x_all[full:]], [y_all[full:]]) if full < waiting else ([], [])
        waiting -= full
    if waiting:
        forward(torch.cat(xs), torch.cat(ys))
    return total.item(), int(correct.item()), count
