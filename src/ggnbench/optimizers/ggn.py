"""The GGN diagonal computed natively, layer by layer, without BackPACK.

For a network followed by ``CrossEntropyLoss`` the generalized Gauss-Newton matrix is
``sum_n J_n^T H_n J_n``, with ``H_n`` the loss Hessian with respect to sample ``n``'s
logits. Writing ``H_n = S_n S_n^T``, the diagonal entry of a weight is the sum over
samples ``n`` and columns ``v`` of the squared per-sample gradient obtained by
backpropagating column ``v`` of ``S_n`` in place of the loss gradient.

:class:`NativeDiagGGN` records every layer's input and output with forward hooks and the
logits with a hook on the loss. Entered as a context manager around ``loss.backward()``,
it carries all ``V`` columns of ``S`` backwards through the layers at once. With one
column (Monte-Carlo, one sample) that is one ``torch.autograd.grad`` from the logits to
the layer outputs through the recorded graph. With several (the exact diagonal: one per
class) the columns are folded into the batch dimension (``[N, V, ...]``) and carried by
one rule per layer type (:data:`INPUT_GRADIENTS`): a convolution's input gradient is one
transposed convolution of the ``N * V`` columns, a max pooling's a scatter through the
indices of the recorded pass, and so on (autograd's batched gradients would run the
columns through vmap, several times slower on the CPU here). At each Linear and Conv2d
layer the squared per-sample weight gradients are summed: ``(g*g)^T (x*x)`` for a Linear
layer, a batched matrix product with the unfolded input for a convolution. The ordinary
backward then runs as usual; the diagonal is written to each parameter's
``diag_ggn_exact`` or ``diag_ggn_mc``, where BackPACK writes it.

Columns of ``S`` (``C`` classes, ``N`` samples, divided by ``sqrt(N)`` under mean reduction):

- exact: ``S[v, n, c] = delta_vc sqrt(p_nc) - p_nc sqrt(p_nv)``, all ``C`` columns, as
  BackPACK's ``DiagGGNExact`` uses;
- Monte-Carlo: ``S[m, n] = (p_n - onehot(y_m)) / sqrt(M)`` for ``M`` labels ``y_m`` drawn
  from the softmax, drawn as BackPACK's ``DiagGGNMC`` draws them (``torch.multinomial`` on
  the normalised softmax, ``M`` draws per sample), so that under the same random state
  both give the same estimate.

The network must be an ``nn.Sequential`` (nested ones allowed) of the layers in
:data:`INPUT_GRADIENTS`, each acting on every sample separately; :func:`check_supported`
names the first other layer before anything runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.hooks import RemovableHandle

from ggnbench.errors import GGNBenchError

#: The curvature kinds: the exact diagonal, or a Monte-Carlo estimate.
KINDS = ("exact", "mc")
#: Elements of the per-sample gradient tensor formed at once for a convolution; larger
#: batches are processed in slices of samples to bound the extra memory (float32: 256 MiB).
CHUNK_ELEMENTS = 1 << 26

#: One layer of a recorded forward pass: the module, its input and its output.
Layer = tuple[nn.Module, Tensor, Tensor]


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


def sqrt_hessian(
    logits: Tensor,
    kind: str,
    reduction: str,
    mc_samples: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Columns ``S`` with ``S S^T`` the cross-entropy Hessian (exact or sampled).

    Args:
        logits: Network outputs, shape ``[N, C]``.
        kind: ``exact`` (``C`` columns) or ``mc`` (``mc_samples`` sampled columns).
        reduction: The loss's reduction, ``mean`` (columns divided by ``sqrt(N)``) or ``sum``.
        mc_samples: Number of sampled labels per sample (``mc`` only).
        generator: Random generator of the sampled labels; None uses torch's global one.

    Returns:
        ``S`` of shape ``[N, V, C]`` (``V`` = ``C`` or ``mc_samples``), detached.
    """
    logits = logits.detach()
    probs = logits.softmax(dim=1)
    if kind == "exact":
        root = probs.sqrt()
        columns = torch.diag_embed(root) - root.unsqueeze(2) * probs.unsqueeze(1)
    else:
        # Categorical(probs).sample((M,)) as BackPACK draws it: M draws with replacement
        # from the normalised probabilities of each sample.
        normalised = probs / probs.sum(-1, keepdim=True)
        labels = torch.multinomial(normalised, mc_samples, True, generator=generator)
        onehot = F.one_hot(labels, num_classes=probs.shape[1]).to(probs.dtype)
        columns = (probs.unsqueeze(1) - onehot) / math.sqrt(mc_samples)
    if reduction == "mean":
        columns = columns / math.sqrt(logits.shape[0])
    return columns


@torch.no_grad()
def backpropagate(layers: list[Layer], columns: Tensor) -> dict[nn.Parameter, Tensor]:
    """Carry the columns from the logits back through the layers, summing squared gradients.

    Args:
        layers: The recorded pass, in forward order, each layer's input its
            predecessor's output.
        columns: ``S`` at the logits, ``[N, V, C]``.

    Returns:
        Each parameter of a Linear or Conv2d layer mapped to its GGN diagonal.
    """
    weighted = [i for i, (module, _, _) in enumerate(layers) if type(module) in DIAGONALS]
    diagonals: dict[nn.Parameter, Tensor] = {}

    def add(i: int, grad_out: Tensor) -> None:
        module, x, _ = layers[i]
        params = [module.weight] + ([module.bias] if module.bias is not None else [])
        rule = DIAGONALS[type(module)]
        for param, diagonal in zip(params, rule(module, x.detach(), grad_out), strict=True):
            diagonals[param] = diagonal

    if columns.shape[1] == 1:
        # One column: autograd's own backward through the recorded graph.
        outputs = [layers[i][2] for i in weighted]
        grads = torch.autograd.grad(layers[-1][2], outputs, columns[:, 0], retain_graph=True)
        for i, grad_out in zip(weighted, grads, strict=True):
            add(i, grad_out.unsqueeze(1))
        return diagonals
    # Several columns: layer by layer, each weighted layer's diagonal formed on the way
    # so that only one layer's columns are held at a time.
    g = columns
    for i in range(len(layers) - 1, weighted[0] - 1, -1):
        if i in weighted:
            add(i, g)
        if i > weighted[0]:
            module, x, y = layers[i]
            g = INPUT_GRADIENTS[type(module)](module, x, y, g)
    return diagonals


@dataclass
class _Record:
    """What the hooks saw in the current forward pass with gradients enabled."""

    layers: list[Layer] = field(default_factory=list)
    logits: Tensor | None = None
    reduction: str = "mean"


class NativeDiagGGN:
    """The GGN diagonal of a network, written to each parameter as BackPACK writes it.

    Usage::

        native = NativeDiagGGN("mc")
        native.attach(model, loss_fn)          # checks the layers, registers hooks
        loss = loss_fn(model(x), y)
        with native:                           # computes the diagonal on entry
            loss.backward()
        p.diag_ggn_mc                          # for every parameter p

    Attributes:
        kind: ``exact`` or ``mc``.
        attr: Parameter attribute written (``diag_ggn_exact`` or ``diag_ggn_mc``).
        mc_samples: Sampled labels per sample (``mc`` only).
        generator: Random generator of the sampled labels; None: torch's global one.
    """

    def __init__(
        self, kind: str, mc_samples: int = 1, generator: torch.Generator | None = None
    ) -> None:
        """Create an unattached backend.

        Args:
            kind: ``exact`` or ``mc``.
            mc_samples: Sampled labels per sample, >= 1 (``mc`` only).
            generator: Random generator of the sampled labels; None: torch's global one.

        Raises:
            GGNBenchError: On an unknown kind or a sample count below 1.
        """
        if kind not in KINDS:
            raise GGNBenchError(f"unknown GGN kind {kind!r}; use one of {list(KINDS)}")
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, int) or mc_samples < 1:
            raise GGNBenchError(f"mc_samples must be an integer >= 1, got {mc_samples!r}")
        self.kind = kind
        self.attr = f"diag_ggn_{kind}"
        self.mc_samples = mc_samples
        self.generator = generator
        self._layers: list[nn.Module] = []
        self._record = _Record()
        self._handles: list[RemovableHandle] = []

    def attach(self, model: nn.Module, loss_fn: nn.Module) -> None:
        """Check the network and loss, then register the recording hooks.

        Args:
            model: The network (see :func:`check_supported`).
            loss_fn: A ``CrossEntropyLoss``.

        Raises:
            GGNBenchError: If a layer or the loss is not supported.
        """
        layers = check_supported(model, loss_fn)
        self.detach()
        self._layers = layers
        for module in set(layers):
            self._handles.append(module.register_forward_hook(self._record_layer))
        self._handles.append(loss_fn.register_forward_hook(self._record_loss))

    def detach(self) -> None:
        """Remove the hooks and forget what they recorded."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._layers = []
        self._record = _Record()

    def _record_layer(self, module: nn.Module, args: tuple[Any, ...], output: Tensor) -> None:
        if not torch.is_grad_enabled():
            return
        if self._record.logits is not None:  # a new forward pass
            self._record = _Record()
        self._record.layers.append((module, args[0], output))

    def _record_loss(self, module: nn.Module, args: tuple[Any, ...], output: Tensor) -> None:
        if not torch.is_grad_enabled():
            return
        self._record.logits = args[0]
        self._record.reduction = module.reduction

    def compute(self) -> dict[nn.Parameter, Tensor]:
        """The GGN diagonal for the recorded forward pass, then forget that pass.

        Returns:
            Each parameter of a Linear or Conv2d layer mapped to its diagonal.

        Raises:
            GGNBenchError: If no forward pass through model and loss was recorded, or the
                pass did not run the layers as one chain into the loss.
        """
        record, self._record = self._record, _Record()
        if record.logits is None or not record.layers:
            raise GGNBenchError(
                "the native GGN backend saw no forward pass of the attached model and loss "
                "with gradients enabled; compute the loss before entering it"
            )
        ran = [module for module, _, _ in record.layers]
        chained = all(
            record.layers[i][1] is record.layers[i - 1][2] for i in range(1, len(record.layers))
        )
        if (
            len(ran) != len(self._layers)
            or any(a is not b for a, b in zip(ran, self._layers, strict=True))
            or not chained
            or record.logits is not record.layers[-1][2]
            or record.logits.dim() != 2
        ):
            raise GGNBenchError(
                "the forward pass did not run the attached model's layers once each, in order, "
                "each on its predecessor's output, into the loss as [N, C] logits; the native "
                "GGN backend needs that: use backend 'backpack'"
            )
        columns = sqrt_hessian(
            record.logits, self.kind, record.reduction, self.mc_samples, self.generator
        )
        return backpropagate(record.layers, columns)

    def __enter__(self) -> NativeDiagGGN:
        """Compute the diagonal of the recorded pass and attach it to the parameters.

        Returns:
            This backend.
        """
        for param, diagonal in self.compute().items():
            setattr(param, self.attr, diagonal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Leave the backward context (the diagonal was written on entry)."""
