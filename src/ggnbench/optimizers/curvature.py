"""Curvature as a source: what a curvature optimizer reads after the backward pass.

Every built-in second-order optimizer is the same three parts: a *curvature source*
(:class:`CurvatureSource`: the BackPACK extension that computes the curvature during
``loss.backward()``, or ggnbench's native hooks for the GGN diagonal, the parameter
attribute it fills, and whether that holds one diagonal or Kronecker factors), a *running
average* of the observations (:class:`~ggnbench.optimizers.averaging.RunningAverage`:
``none``, ``mean`` or ``ema``), and an *update* that applies the damped inverse to the
gradient. :class:`CurvatureOptimizer` holds the first two; an optimizer module
(:mod:`ggnbench.optimizers.diag_ggn`, :mod:`ggnbench.optimizers.kfac`) subclasses it with
the third, and its entry in :data:`ggnbench.optimizers.optim.OPTIMIZERS` names the
source. This mirrors the split of curvature computers from the operators that use them.
Whether a source can run on a network is :mod:`ggnbench.optimizers.feasibility`'s check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch
from backpack import backpack
from backpack.extensions.backprop_extension import BackpropExtension
from torch import Tensor, nn
from torch.optim import Optimizer

from ggnbench.checks import check_non_negative, check_option, check_positive
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers.averaging import CurvatureAverage, RunningAverage, SharedFactors
from ggnbench.optimizers.ggn import NativeDiagGGN


class Structure(StrEnum):
    """What a source's attribute holds per parameter.

    One tensor shaped like the parameter (``diagonal``), or a list of Kronecker factors
    (``kronecker``: ``[G, A]`` for a weight, ``[G]`` for a bias).
    """

    DIAGONAL = "diagonal"
    KRONECKER = "kronecker"


class Backend(StrEnum):
    """What computes the curvature: BackPACK's extension, or ggnbench's native hooks."""

    BACKPACK = "backpack"
    NATIVE = "native"


@dataclass(frozen=True)
class CurvatureSource:
    """One curvature: how it is computed and where it is found.

    Attributes:
        extension: BackPACK's extension class that computes it during the backward pass.
        savefield: The parameter attribute it fills (``diag_ggn_mc``, ``kfac``, ...).
        structure: ``diagonal`` or ``kronecker`` (:class:`Structure`; a string is turned
            into its member).
        native: The :class:`~ggnbench.optimizers.ggn.NativeDiagGGN` kind computing the same quantity
            without BackPACK (``mc`` or ``exact``), or None when only BackPACK does.
        dense_backpropagation: Whether BackPACK carries a dense ``[D, D]`` matrix back
            through every layer output of ``D`` features (KFRA), which
            :func:`~ggnbench.optimizers.feasibility.check_feasible` bounds.
    """

    extension: type[BackpropExtension]
    savefield: str
    structure: Structure
    native: str | None = None
    dense_backpropagation: bool = False

    def __post_init__(self) -> None:
        """Turn a structure given as a string into its member.

        Raises:
            GGNBenchError: If it names no structure.
        """
        object.__setattr__(self, "structure", check_option("structure", Structure, self.structure))

    @property
    def name(self) -> str:
        """BackPACK's name of the extension (``DiagGGNMC``, ``KFAC``, ...)."""
        return self.extension.__name__

    @property
    def backends(self) -> tuple[Backend, ...]:
        """The backends that can compute this curvature."""
        return tuple(Backend) if self.native else (Backend.BACKPACK,)


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
        backend: Backend | str = Backend.BACKPACK,
    ) -> None:
        """Check the shared options and create the optimizer.

        Options given as strings (``backend``, ``curvature_average``, ``shared_factors``)
        are held as their members, in the group defaults too.

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
        if backend not in source.backends:  # a member, or its name as a string
            allowed = [b.value for b in source.backends]
            raise GGNBenchError(
                f"unknown backend {backend!r} for {source.name}; use one of {allowed}"
            )
        backend = Backend(backend)
        defaults = {
            **defaults,
            "curvature_average": check_option(
                "curvature_average", CurvatureAverage, defaults["curvature_average"]
            ),
            "shared_factors": check_option(
                "shared_factors", SharedFactors, defaults["shared_factors"]
            ),
        }
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
        return () if self.backend is Backend.NATIVE else (self.source.extension(),)

    def attach(self, model: nn.Module, loss_fn: nn.Module) -> None:
        """Learn the parameters' names; register the native backend's hooks on model and loss.

        Args:
            model: The network whose parameters this optimizer updates.
            loss_fn: Its ``CrossEntropyLoss``.
        """
        self._names = {id(p): name for name, p in model.named_parameters()}
        if self.backend is Backend.NATIVE:
            self._native = NativeDiagGGN(self.source.native)
            self._native.attach(model, loss_fn)

    def backward_context(self) -> contextlib.AbstractContextManager:
        """The context to run ``loss.backward()`` in so that :meth:`step` finds the curvature.

        Returns:
            ``backpack(...)`` with the source's extension, or the attached native hooks.

        Raises:
            GGNBenchError: If the native backend was not attached to a model.
        """
        if self.backend is Backend.BACKPACK:
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
        return [value] if self.source.structure is Structure.DIAGONAL else list(value)

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
