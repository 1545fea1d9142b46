"""Curvature as a source: what a curvature optimizer reads after the backward pass.

Every built-in second-order optimizer is the same three parts: a *curvature source*
(:class:`CurvatureSource`: the BackPACK extension that computes the curvature during
``loss.backward()``, or ggnbench's native hooks for the GGN diagonal, the parameter
attribute it fills, and whether that holds one diagonal or Kronecker factors), a *running
average* of the observations (:class:`RunningAverage`: ``none``, ``mean`` or ``ema``),
and an *update* that applies the damped inverse to the gradient. :class:`CurvatureOptimizer`
holds the first two; an optimizer module (:mod:`ggnbench.optimizers.diag_ggn`,
:mod:`ggnbench.optimizers.kfac`) subclasses it with the third, and its entry in
:data:`ggnbench.optimizers.optim.OPTIMIZERS` names the
source. This mirrors the split of curvature computers from the operators that use them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from backpack import backpack
from backpack.extensions.backprop_extension import BackpropExtension
from torch import Tensor, nn
from torch.optim import Optimizer

from ggnbench import defaults
from ggnbench.checks import check_non_negative, check_positive
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers.ggn import NativeDiagGGN

#: What a source's attribute holds per parameter: one tensor shaped like the parameter,
#: or a list of Kronecker factors (``[G, A]`` for a weight, ``[G]`` for a bias).
STRUCTURES = ("diagonal", "kronecker")

#: How the curvature entering the update is formed from the mini-batch observations.
CURVATURE_AVERAGES = ("none", "mean", "ema")

#: What computes the curvature: BackPACK's extension, or ggnbench's native hooks.
BACKENDS = ("backpack", "native")

#: How a factor tensor that BackPACK hands to two parameters is averaged: as each
#: parameter's own copy (``separate``), or as the one tensor it is, updated in place once
#: per parameter that holds it (``aliased``, the paper's code: under KFRA a Linear
#: layer's output factor is also its bias's, so the paper averaged it twice a step).
SHARED_FACTORS = ("separate", "aliased")

#: The first observation initialises the ``mean``; later weights are ``min(1/(t+1), MAX)``.
MEAN_MAX_WEIGHT = 0.9


@dataclass(frozen=True)
class CurvatureSource:
    """One curvature: how it is computed and where it is found.

    Attributes:
        extension: BackPACK's extension class that computes it during the backward pass.
        savefield: The parameter attribute it fills (``diag_ggn_mc``, ``kfac``, ...).
        structure: ``diagonal`` or ``kronecker`` (:data:`STRUCTURES`).
        native: The :class:`~ggnbench.optimizers.ggn.NativeDiagGGN` kind computing the same quantity
            without BackPACK (``mc`` or ``exact``), or None when only BackPACK does.
        dense_backpropagation: Whether BackPACK carries a dense ``[D, D]`` matrix back
            through every layer output of ``D`` features (KFRA), which
            :func:`check_feasible` bounds.
    """

    extension: type[BackpropExtension]
    savefield: str
    structure: str
    native: str | None = None
    dense_backpropagation: bool = False

    @property
    def name(self) -> str:
        """BackPACK's name of the extension (``DiagGGNMC``, ``KFAC``, ...)."""
        return self.extension.__name__

    @property
    def backends(self) -> tuple[str, ...]:
        """The backends that can compute this curvature."""
        return BACKENDS if self.native else BACKENDS[:1]


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


class RunningAverage:
    """Fold mini-batch curvature observations into a per-parameter estimate.

    An observation is a list of tensors per parameter (one diagonal, or Kronecker
    factors). Modes (:data:`CURVATURE_AVERAGES`):

    - ``none``: the current observation itself;
    - ``mean``: the arithmetic mean of all observations so far, as the paper's code
      computes it: the first initialises ``m``, then ``m <- (1 - a) m + a x`` in place with
      ``a = min(1 / (t + 1), 0.9)`` and ``t`` the number already averaged;
    - ``ema``: ``m <- beta m + (1 - beta) x`` from ``m = 0``, returned divided by
      ``1 - beta^t`` (as Adam corrects its moments).

    With ``shared="aliased"`` the first observation is kept by reference, so a tensor two
    parameters share stays shared and each parameter's in-place update reaches it (the
    paper's code); ``separate`` copies it first. The estimate lives in the optimizer's
    ``state[p]["curvature"]`` (a list) and ``state[p]["observations"]``.
    """

    def __init__(self, state: dict[Tensor, dict[str, Any]], mode: str, beta: float, shared: str):
        """Create the average over an optimizer's state.

        Args:
            state: The optimizer's ``state``.
            mode: ``none``, ``mean`` or ``ema``.
            beta: Decay of ``ema``.
            shared: ``separate`` or ``aliased``.
        """
        self.state, self.mode, self.beta, self.shared = state, mode, beta, shared

    def update(self, p: Tensor, observed: list[Tensor]) -> list[Tensor]:
        """Fold one observation of parameter ``p`` in and return the estimate to use.

        Args:
            p: The parameter (the key of its state).
            observed: Its mini-batch curvature, one tensor per factor.

        Returns:
            The estimate, one tensor per factor.
        """
        if self.mode == "none":
            return observed
        state = self.state[p]
        seen = state.get("observations", 0)
        state["observations"] = seen + 1
        if self.mode == "mean":
            if seen == 0:
                keep = self.shared == "aliased"
                state["curvature"] = [x if keep else x.detach().clone() for x in observed]
            else:
                alpha = min(1.0 / (seen + 1), MEAN_MAX_WEIGHT)
                for old, new in zip(state["curvature"], observed, strict=True):
                    old.mul_(1 - alpha).add_(new, alpha=alpha)
            return state["curvature"]
        if seen == 0:
            state["curvature"] = [torch.zeros_like(x) for x in observed]
        for old, new in zip(state["curvature"], observed, strict=True):
            old.mul_(self.beta).add_(new, alpha=1 - self.beta)
        correction = 1 - self.beta ** (seen + 1)
        return [m / correction for m in state["curvature"]]


class CurvatureOptimizer(Optimizer):
    """A torch optimizer whose step reads a curvature source after each backward pass.

    Subclasses implement :meth:`update`. The backward pass runs inside
    :meth:`backward_context` (``backpack(extension)``, or the native hooks
    :meth:`attach` registered); :func:`ggnbench.optimizers.optim.prepare` and
    :func:`ggnbench.optimizers.optim.backward` do both. Group options every subclass has:
    ``curvature_average``, ``curvature_beta``, ``shared_factors`` (see
    :class:`RunningAverage`), and the constructor's ``backend``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        defaults: dict[str, Any],
        source: CurvatureSource,
        backend: str = "backpack",
    ) -> None:
        """Check the shared options and create the optimizer.

        Args:
            params: Parameters or parameter groups.
            defaults: Group defaults, with ``lr``, ``damping``, ``weight_decay``,
                ``curvature_average``, ``curvature_beta`` and ``shared_factors``.
            source: The curvature it reads.
            backend: ``backpack`` or, where the source has one, ``native``.

        Raises:
            GGNBenchError: On an lr, damping or weight decay out of range, an unknown
                backend, average or sharing, or a beta outside [0, 1).
        """
        check_positive("lr", defaults["lr"])
        check_non_negative("damping", defaults["damping"])
        check_non_negative("weight_decay", defaults["weight_decay"])
        if backend not in source.backends:
            raise GGNBenchError(
                f"unknown backend {backend!r} for {source.name}; use one of {list(source.backends)}"
            )
        choices = (("curvature_average", CURVATURE_AVERAGES), ("shared_factors", SHARED_FACTORS))
        for key, allowed in choices:
            if defaults[key] not in allowed:
                raise GGNBenchError(f"unknown {key} {defaults[key]!r}; use one of {list(allowed)}")
        beta = defaults["curvature_beta"]
        if not isinstance(beta, int | float) or not 0 <= beta < 1:
            raise GGNBenchError(f"curvature_beta must be in [0, 1), got {beta!r}")
        self.source = source
        self.backend = backend
        self._native: NativeDiagGGN | None = None
        self._names: dict[int, str] = {}
        #: Eigendecompositions that LAPACK returned non-finite in the factor's dtype and
        #: that were recomputed in float64: step, parameter, factor and its size.
        self.eigh_retries: list[dict[str, Any]] = []
        super().__init__(params, {**defaults, "backend": backend})

    def backpack_extensions(self) -> tuple[BackpropExtension, ...]:
        """The BackPACK extensions that ``backward`` must run for :meth:`step`.

        Returns:
            A fresh instance of the source's extension; none with the native backend.
        """
        return () if self.backend == "native" else (self.source.extension(),)

    def attach(self, model: nn.Module, loss_fn: nn.Module) -> None:
        """Learn the parameters' names; register the native backend's hooks on model and loss.

        Args:
            model: The network whose parameters this optimizer updates.
            loss_fn: Its ``CrossEntropyLoss``.
        """
        self._names = {id(p): name for name, p in model.named_parameters()}
        if self.backend == "native":
            self._native = NativeDiagGGN(self.source.native)
            self._native.attach(model, loss_fn)

    def backward_context(self) -> contextlib.AbstractContextManager:
        """The context to run ``loss.backward()`` in so that :meth:`step` finds the curvature.

        Returns:
            ``backpack(...)`` with the source's extension, or the attached native hooks.

        Raises:
            GGNBenchError: If the native backend was not attached to a model.
        """
        if self.backend == "backpack":
            return backpack(*self.backpack_extensions())
        if self._native is None:
            raise GGNBenchError(
                f"{type(self).__name__}(backend='native') is not attached: call "
                "optimizer.attach(model, loss_fn) (or ggnbench.optimizers.optim.prepare) "
                "before the "
                "first forward pass"
            )
        return self._native

    def describe(self, p: Tensor) -> str:
        """A parameter as messages name it.

        Args:
            p: One of the optimizer's parameters.

        Returns:
            ``parameter '3.weight' (50x800)`` once :meth:`attach` saw the model, else its
            position among the optimizer's parameters.
        """
        shape = "x".join(map(str, p.shape))
        if id(p) in self._names:
            return f"parameter '{self._names[id(p)]}' ({shape})"
        params = [q for group in self.param_groups for q in group["params"]]
        index = next(i for i, q in enumerate(params) if q is p)
        return f"parameter {index} ({shape})"

    def record_retry(self, p: Tensor, step: int, factor: str, size: tuple[int, ...]) -> None:
        """Record an eigendecomposition recomputed in float64 (see ``eigh_retries``).

        Args:
            p: The parameter whose factor it was.
            step: The optimizer's step (0-based).
            factor: Which factor (``G`` or ``A``).
            size: The factor's shape.
        """
        self.eigh_retries.append(
            {"step": step, "parameter": self.describe(p), "factor": factor, "size": list(size)}
        )

    def observe(self, index: int, p: Tensor) -> list[Tensor]:
        """The mini-batch curvature the backward pass left on a parameter.

        Args:
            index: Position of the parameter among those with a gradient (for the message).
            p: The parameter.

        Returns:
            One tensor (diagonal) or the Kronecker factors.

        Raises:
            GGNBenchError: If the attribute is missing (backward ran without the source).
        """
        value = getattr(p, self.source.savefield, None)
        if value is None:
            raise GGNBenchError(
                f"parameter {index} has no '{self.source.savefield}': run loss.backward() "
                "inside `with optimizer.backward_context():` after "
                "ggnbench.optimizers.optim.prepare"
            )
        return [value] if self.source.structure == "diagonal" else list(value)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """Update every parameter that has a gradient from its averaged curvature.

        Args:
            closure: Not supported; present for the torch interface.

        Returns:
            None.

        Raises:
            GGNBenchError: If a closure is passed, or a curvature attribute is missing.
        """
        if closure is not None:
            raise GGNBenchError(f"{type(self).__name__}.step takes no closure; call backward first")
        # Every estimate first, then every update: a factor shared across groups is
        # complete before any group inverts it (the paper's order).
        work = []
        for group in self.param_groups:
            average = RunningAverage(
                self.state, group["curvature_average"], group["curvature_beta"],
                group["shared_factors"],
            )  # fmt: skip
            params = [p for p in group["params"] if p.grad is not None]
            estimates = [average.update(p, self.observe(i, p)) for i, p in enumerate(params)]
            work.append((group, params, estimates))
        for group, params, estimates in work:
            self.update(group, params, estimates)
        return None

    def update(
        self, group: dict[str, Any], params: list[Tensor], curvature: list[list[Tensor]]
    ) -> None:
        """Apply one group's update in place.

        Args:
            group: The parameter group (``lr``, ``damping``, ``weight_decay``, ...).
            params: Its parameters that have a gradient.
            curvature: Each one's curvature estimate, one tensor per factor.
        """
        raise NotImplementedError
