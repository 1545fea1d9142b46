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
one rule per layer type (:data:`ggnbench.optimizers.ggn_rules.INPUT_GRADIENTS`; autograd's
batched gradients would run the columns through vmap, several times slower on the CPU
here). At each Linear and Conv2d layer the squared per-sample weight gradients are summed
(:data:`ggnbench.optimizers.ggn_rules.DIAGONALS`). The ordinary backward then runs as
usual; the diagonal is written to each parameter's ``diag_ggn_exact`` or ``diag_ggn_mc``,
where BackPACK writes it.

Columns of ``S`` (``C`` classes, ``N`` samples, divided by ``sqrt(N)`` under mean reduction):

- exact: ``S[v, n, c] = delta_vc sqrt(p_nc) - p_nc sqrt(p_nv)``, all ``C`` columns, as
  BackPACK's ``DiagGGNExact`` uses;
- Monte-Carlo: ``S[m, n] = (p_n - onehot(y_m)) / sqrt(M)`` for ``M`` labels ``y_m`` drawn
  from the softmax, drawn as BackPACK's ``DiagGGNMC`` draws them (``torch.multinomial`` on
  the normalised softmax, ``M`` draws per sample), so that under the same random state
  both give the same estimate.

The network must be an ``nn.Sequential`` (nested ones allowed) of the layers in
:data:`~ggnbench.optimizers.ggn_rules.INPUT_GRADIENTS`, each acting on every sample
separately; :func:`~ggnbench.optimizers.ggn_rules.check_supported` names the first other
layer before anything runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.hooks import RemovableHandle

from ggnbench.errors import GGNBenchError
from ggnbench.optimizers.ggn_rules import DIAGONALS, INPUT_GRADIENTS, check_supported

#: The curvature kinds: the exact diagonal, or a Monte-Carlo estimate.
KINDS = ("exact", "mc")

#: One layer of a recorded forward pass: the module, its input and its output.
Layer = tuple[nn.Module, Tensor, Tensor]


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
