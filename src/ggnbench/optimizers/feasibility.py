"""Whether BackPACK can, and should, compute a curvature on a network, before any step.

:func:`check_feasible` refuses a network with a layer that BackPACK has no rule for, and
a recursive curvature (KFRA) whose dense ``[D, D]`` backpropagated matrices
(:func:`dense_curvature_bytes`) would exceed the memory limit.
"""

from __future__ import annotations

import torch
from torch import nn

from ggnbench import defaults
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers.curvature import CurvatureSource


def dense_curvature_bytes(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """Memory of the dense ``[D, D]`` matrices a recursive curvature backpropagates.

    One forward pass of a single zero example records every leaf module's output size
    ``D``; each output gets one ``[D, D]`` matrix of the parameters' dtype.

    Args:
        model: The network.
        input_shape: Shape of one example (without the batch dimension).

    Returns:
        ``(largest, total)``: bytes of the largest matrix and of all of them together.
    """
    sizes: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, _a, out: sizes.append(out[0].numel()))
        for m in model.modules()
        if not list(m.children())
    ]
    first = next(model.parameters())
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, dtype=first.dtype, device=first.device))
    finally:
        for hook in hooks:
            hook.remove()
    each = [d * d * first.element_size() for d in sizes]
    return max(each, default=0), sum(each)


def check_feasible(
    source: CurvatureSource,
    model: nn.Module,
    input_shape: tuple[int, ...],
    limit_bytes: int = defaults.DENSE_CURVATURE_LIMIT_BYTES,
) -> None:
    """Refuse a network BackPACK cannot, or should not, compute this curvature on.

    Every leaf module must have a BackPACK module extension for the source (BackPACK
    would otherwise fail in the middle of the first backward pass); a source that
    backpropagates dense matrices (KFRA) must stay under ``limit_bytes`` in its largest one.

    Args:
        source: The curvature.
        model: The network (before or after ``extend``).
        input_shape: Shape of one example.
        limit_bytes: Largest dense matrix allowed; ``None`` or <= 0 allows any.

    Raises:
        GGNBenchError: Naming the first unsupported layer, or the estimate and the option
            that allows it anyway.
    """
    # BackPACK keeps its rules per layer type in a private mapping; without it (another
    # BackPACK version) the layer check is left to BackPACK's own error.
    supported = getattr(source.extension(), "_BackpropExtension__module_extensions", None)
    for name, module in model.named_modules():
        if supported is None:
            break
        if not list(module.children()) and type(module) not in supported:
            raise GGNBenchError(
                f"BackPACK's {source.name} does not support layer {name!r} "
                f"({type(module).__name__}); choose another optimizer for this network"
            )
    if not source.dense_backpropagation or not limit_bytes or limit_bytes <= 0:
        return
    largest, total = dense_curvature_bytes(model, input_shape)
    if largest > limit_bytes:
        raise GGNBenchError(
            f"{source.name} would backpropagate dense curvature matrices of up to "
            f"{largest / 2**20:,.0f} MiB each ({total / 2**20:,.0f} MiB for all layers, per "
            f"step) on this network, over the {limit_bytes / 2**20:,.0f} MiB limit; pass "
            "--allow-large-curvature (config: allow_large_curvature: true) to run it anyway"
        )
