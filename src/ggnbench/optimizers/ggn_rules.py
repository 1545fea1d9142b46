"""The native GGN diagonal's per-layer rules, and the networks they cover.

:class:`~ggnbench.optimizers.ggn.NativeDiagGGN` carries the columns of the loss
Hessian's square root backwards through a recorded forward pass, folded into the batch
dimension (``[N, V, ...]``). This module holds what that walk does at each layer:

- :data:`INPUT_GRADIENTS`: one rule per layer type, carrying the columns from the layer's
  output to its input (a convolution's input gradient is one transposed convolution of
  the ``N * V`` columns, a max pooling's a scatter through the indices of the recorded
  pass, and so on);
- :data:`DIAGONALS`: at each Linear and Conv2d layer, the squared per-sample weight
  gradients summed: ``(g*g)^T (x*x)`` for a Linear layer, a batched matrix product with
  the unfolded input for a convolution;
- :func:`layers_of` and :func:`check_supported`: the network must be an
  ``nn.Sequential`` (nested ones allowed) of the layers in :data:`INPUT_GRADIENTS`, each
  acting on every sample separately, with a plain ``CrossEntropyLoss``; the first other
  layer is named before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ggnbench.errors import GGNBenchError

#: Elements of the per-sample gradient tensor formed at once for a convolution; larger
#: batches are processed in slices of samples to bound the extra memory (float32: 256 MiB).
CHUNK_ELEMENTS = 1 << 26


def _folded(g: Tensor) -> Tensor:
    """``[N, V, ...]`` -> ``[N * V, ...]``."""
    return g.reshape(-1, *g.shape[2:])


def _unfolded(g: Tensor, samples: int) -> Tensor:
    """``[N * V, ...]`` -> ``[N, V, ...]``."""
    return g.reshape(samples, -1, *g.shape[1:])


def _conv_padding(module: nn.Conv2d) -> tuple[int, int]:
    """A convolution's padding as two integers (``valid`` and symmetric ``same``)."""
    if module.padding == "valid":
        return (0, 0)
    if module.padding == "same":
        pairs = zip(module.dilation, module.kernel_size, strict=True)
        return tuple(d * (k - 1) // 2 for d, k in pairs)
    return tuple(module.padding)


def _linear_input(module: nn.Linear, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    return g @ module.weight


def _conv2d_input(module: nn.Conv2d, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    shape = (g.shape[0] * g.shape[1], *x.shape[1:])
    grad = torch.nn.grad.conv2d_input(
        shape, module.weight, _folded(g), module.stride, _conv_padding(module), module.dilation
    )
    return _unfolded(grad, g.shape[0])


def _relu_input(module: nn.Module, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    return g * (y > 0).unsqueeze(1)


def _sigmoid_input(module: nn.Module, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    return g * (y * (1 - y)).unsqueeze(1)


def _tanh_input(module: nn.Module, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    return g * (1 - y * y).unsqueeze(1)


def _max_pool2d_input(module: nn.MaxPool2d, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    # The indices autograd saved for the layer's own backward, else recomputed.
    indices = getattr(y.grad_fn, "_saved_result1", None)
    if indices is None or indices.shape != y.shape:
        _, indices = F.max_pool2d(
            x, module.kernel_size, module.stride, module.padding, module.dilation,
            ceil_mode=module.ceil_mode, return_indices=True,
        )  # fmt: skip
    n, columns = g.shape[:2]
    grad = x.new_zeros(n, columns, x.shape[1], x.shape[2] * x.shape[3])
    index = indices.flatten(2).unsqueeze(1).expand(-1, columns, -1, -1)
    grad.scatter_add_(3, index, g.flatten(3))
    return grad.reshape(n, columns, *x.shape[1:])


def _avg_pool2d_input(module: nn.AvgPool2d, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    stride = module.stride if module.stride is not None else module.kernel_size
    shape = (g.shape[0] * g.shape[1], *x.shape[1:])
    grad = torch.ops.aten.avg_pool2d_backward(
        _folded(g), x.new_empty(shape), torch.nn.modules.utils._pair(module.kernel_size),
        torch.nn.modules.utils._pair(stride), torch.nn.modules.utils._pair(module.padding),
        module.ceil_mode, module.count_include_pad, module.divisor_override,
    )  # fmt: skip
    return _unfolded(grad, g.shape[0])


def _zero_pad2d_input(module: nn.ZeroPad2d, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    left, right, top, bottom = module.padding
    return g[..., top : g.shape[-2] - bottom, left : g.shape[-1] - right]


def _reshape_input(module: nn.Module, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    return g.reshape(*g.shape[:2], *x.shape[1:])


def _identity_input(module: nn.Module, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    return g


def _dropout_input(module: nn.Dropout, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    if not module.training or module.p == 0:
        return g
    # The mask lives in the recorded graph: differentiate the layer's own output.
    batched = g.transpose(0, 1)
    grad = torch.autograd.grad(y, x, batched, retain_graph=True, is_grads_batched=True)[0]
    return grad.transpose(0, 1)


#: How each supported layer carries backpropagated columns ``g`` (``[N, V, *out]``) from
#: its output to its input, given its recorded input ``x`` and output ``y``.
INPUT_GRADIENTS: dict[type[nn.Module], Callable[[Any, Tensor, Tensor, Tensor], Tensor]] = {
    nn.Linear: _linear_input,
    nn.Conv2d: _conv2d_input,
    nn.ReLU: _relu_input,
    nn.Sigmoid: _sigmoid_input,
    nn.Tanh: _tanh_input,
    nn.MaxPool2d: _max_pool2d_input,
    nn.AvgPool2d: _avg_pool2d_input,
    nn.ZeroPad2d: _zero_pad2d_input,
    nn.Dropout: _dropout_input,
    nn.Flatten: _reshape_input,
    nn.Identity: _identity_input,
}


def _sum_squared_outer(grad_out: Tensor, inputs: Tensor) -> Tensor:
    """``sum_{n,v} (G[n,v] U[n]^T)**2`` for G ``[N, V, O, L]`` and U ``[N, K, L]``.

    The per-sample, per-column gradients ``G U^T`` are formed for a slice of samples at a
    time (at most :data:`CHUNK_ELEMENTS` elements), squared and summed.

    Returns:
        The sum, ``[O, K]``.
    """
    n, columns, out, positions = grad_out.shape
    width = inputs.shape[1]
    step = max(1, CHUNK_ELEMENTS // max(1, columns * out * width))
    total = grad_out.new_zeros(out, width)
    for start in range(0, n, step):
        g = grad_out[start : start + step].reshape(-1, columns * out, positions)
        u = inputs[start : start + step]  # [n, K, L]
        total += torch.bmm(g, u.transpose(1, 2)).square_().reshape(-1, out, width).sum(0)
    return total


def linear_diagonal(module: nn.Linear, inputs: Tensor, grad_out: Tensor) -> list[Tensor]:
    """GGN diagonal of a Linear layer's weight (and bias).

    Args:
        module: The layer.
        inputs: Its input, ``[N, I]`` or ``[N, *, I]``.
        grad_out: Backpropagated columns at its output, ``[N, V, O]`` or ``[N, V, *, O]``.

    Returns:
        The weight's diagonal, then the bias's if the layer has one.
    """
    if inputs.dim() == 2:
        g2 = grad_out.square().sum(1)  # [N, O]
        out = [g2.T @ inputs.square()]
        if module.bias is not None:
            out.append(g2.sum(0))
        return out
    n, columns = grad_out.shape[:2]
    g = grad_out.reshape(n, columns, -1, module.out_features).transpose(2, 3)
    x = inputs.reshape(n, -1, module.in_features).transpose(1, 2)
    out = [_sum_squared_outer(g, x)]
    if module.bias is not None:
        out.append(g.sum(3).square().sum((0, 1)))
    return out


def conv2d_diagonal(module: nn.Conv2d, inputs: Tensor, grad_out: Tensor) -> list[Tensor]:
    """GGN diagonal of a Conv2d layer's weight (and bias), through the unfolded input.

    Args:
        module: The layer (groups 1, zero padding).
        inputs: Its input, ``[N, C_in, H, W]``.
        grad_out: Backpropagated columns at its output, ``[N, V, C_out, H_out, W_out]``.

    Returns:
        The weight's diagonal, then the bias's if the layer has one.
    """
    unfolded = F.unfold(
        inputs, module.kernel_size, module.dilation, _conv_padding(module), module.stride
    )  # [N, C_in*kh*kw, L]
    n, columns, out = grad_out.shape[:3]
    g = grad_out.reshape(n, columns, out, -1)
    result = [_sum_squared_outer(g, unfolded).reshape(module.weight.shape)]
    if module.bias is not None:
        result.append(g.sum(3).square().sum((0, 1)))
    return result


#: Diagonal rule of each layer type with parameters.
DIAGONALS: dict[type[nn.Module], Callable[[Any, Tensor, Tensor], list[Tensor]]] = {
    nn.Linear: linear_diagonal,
    nn.Conv2d: conv2d_diagonal,
}


def layers_of(model: nn.Module) -> list[nn.Module]:
    """The layers of a (nested) ``nn.Sequential`` in the order its forward runs them.

    Args:
        model: The network.

    Returns:
        Its leaf layers, in order.

    Raises:
        GGNBenchError: If a layer is not supported or a container is not a plain
            ``nn.Sequential`` (whose forward only chains its children).
    """
    supported = ", ".join(t.__name__ for t in INPUT_GRADIENTS)
    if type(model) is nn.Sequential:
        return [layer for child in model for layer in layers_of(child)]
    if type(model) in INPUT_GRADIENTS:
        if isinstance(model, nn.Conv2d):
            padding = _conv_padding(model)
            if (
                model.groups != 1
                or model.padding_mode != "zeros"
                or (model.padding == "same" and any(2 * p != d * (k - 1) for p, d, k in zip(
                    padding, model.dilation, model.kernel_size, strict=True)))
            ):  # fmt: skip
                raise GGNBenchError(
                    f"a Conv2d with groups={model.groups}, padding={model.padding!r}, "
                    f"padding_mode={model.padding_mode!r} is not supported by the native GGN "
                    "backend (groups 1, zero padding, symmetric 'same'); use backend 'backpack'"
                )
        return [model]
    raise GGNBenchError(
        f"layer {type(model).__name__} is not supported by the native GGN backend, which "
        f"handles nn.Sequential of {supported}; use backend 'backpack'"
    )


def check_supported(model: nn.Module, loss_fn: nn.Module) -> list[nn.Module]:
    """Reject a network or loss the native backend cannot handle, naming the culprit.

    Args:
        model: The network.
        loss_fn: Its loss.

    Returns:
        The network's layers in forward order.

    Raises:
        GGNBenchError: For an unsupported layer or container, or a loss other than a
            plain ``CrossEntropyLoss`` with mean or sum reduction.
    """
    for name, module in model.named_modules():
        try:
            if type(module) is not nn.Sequential:
                layers_of(module)
        except GGNBenchError as err:
            where = f"layer {name!r}" if name else "the model"
            raise GGNBenchError(f"{where}: {err}") from None
    layers = layers_of(model)
    if not any(type(layer) in DIAGONALS for layer in layers):
        raise GGNBenchError("the model has no Linear or Conv2d layer: no GGN diagonal to compute")
    if (
        type(loss_fn) is not nn.CrossEntropyLoss
        or loss_fn.reduction not in ("mean", "sum")
        or loss_fn.weight is not None
        or loss_fn.label_smoothing != 0.0
    ):
        raise GGNBenchError(
            "the native GGN backend needs nn.CrossEntropyLoss with reduction 'mean' or 'sum', "
            f"no class weights and no label smoothing, got {loss_fn!r}; use backend 'backpack'"
        )
    return layers
