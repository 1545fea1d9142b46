"""Benchmark cases as data: BackPACK extensions, native ones, their attributes and references.

Each extension names the factory that builds it for timing, the factory for its
correctness gate (Monte-Carlo ones with many samples), the parameter attribute it
fills, the autograd reference it is checked against, and its backend: BackPACK's
(``backpack(...)`` around the backward of an extended model) or ggnbench's native GGN
diagonal (:mod:`ggnbench.optimizers.ggn`, hooks attached to the plain model; named ``...-native``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from backpack import backpack, extend
from backpack import extensions as ext
from regions import REGIONS as _REGIONS
from torch import nn

from ggnbench.optimizers import references as ref
from ggnbench.optimizers.ggn import NativeDiagGGN
from ggnbench.optimizers.optim import curvature_sources

#: Monte-Carlo samples in the correctness gate of MC extensions.
GATE_MC_SAMPLES = 256
#: Tolerated relative (Frobenius) error of MC estimates in the gate.
MC_TOLERANCE = 0.3


@dataclass(frozen=True)
class Extension:
    """One timed quantity.

    Attributes:
        name: Name in tables and figures (the paper's spelling).
        factory: Builds the extension for timing; None for the plain gradient.
        gate_factory: Builds it for the correctness gate.
        attr: Parameter attribute BackPACK fills.
        kind: How it is checked: ``exact`` (per-parameter reference), ``mc``
            (Monte-Carlo estimate of the reference), ``kron`` / ``kron_mc``
            (Kronecker factors on linear layers), ``hessian`` (sampled entries).
        reference: Autograd reference per parameter name.
        backend: ``backpack`` or ``native``.
    """

    name: str
    factory: Callable[[], object] | None
    gate_factory: Callable[[], object] | None
    attr: str
    kind: str
    reference: Callable | None
    backend: str = "backpack"

    def prepare(
        self, model: nn.Module, loss_fn: nn.Module, gate: bool = False
    ) -> tuple[nn.Module, nn.Module, Callable[[], contextlib.AbstractContextManager]]:
        """Ready model and loss for this extension's backward pass.

        Args:
            model: The network.
            loss_fn: Its loss.
            gate: Build the correctness gate's variant (many Monte-Carlo samples).

        Returns:
            Model, loss, and a factory of the context to run ``loss.backward()`` in.
        """
        factory = self.gate_factory if gate else self.factory
        if factory is None:
            return model, loss_fn, contextlib.nullcontext
        if self.backend == "native":
            native = factory()
            native.attach(model, loss_fn)
            return model, loss_fn, lambda: native
        return extend(model), extend(loss_fn), lambda: backpack(factory())


EXTENSIONS: dict[str, Extension] = {
    e.name: e
    for e in [
        Extension("none", None, None, "grad", "exact", ref.gradient),
        Extension("DiagGGNMC", ext.DiagGGNMC, lambda: ext.DiagGGNMC(mc_samples=GATE_MC_SAMPLES),
                  "diag_ggn_mc", "mc", ref.ggn_diagonal),
        Extension("DiagGGNExact", ext.DiagGGNExact, ext.DiagGGNExact, "diag_ggn_exact", "exact",
                  ref.ggn_diagonal),
        Extension("KFAC", ext.KFAC, lambda: ext.KFAC(mc_samples=GATE_MC_SAMPLES), "kfac",
                  "kron_mc", ref.ggn_diagonal),
        Extension("KFLR", ext.KFLR, ext.KFLR, "kflr", "kron", ref.ggn_diagonal),
        Extension("KFRA", ext.KFRA, ext.KFRA, "kfra", "kron", ref.ggn_diagonal),
        Extension("BatchGrad", ext.BatchGrad, ext.BatchGrad, "grad_batch", "exact",
                  ref.per_sample_gradients),
        Extension("Variance", ext.Variance, ext.Variance, "variance", "exact", ref.variance),
        Extension("SumGradSquared", ext.SumGradSquared, ext.SumGradSquared, "sum_grad_squared",
                  "exact", ref.sum_grad_squared),
        Extension("BatchL2Grad", ext.BatchL2Grad, ext.BatchL2Grad, "batch_l2", "exact",
                  ref.batch_l2),
        Extension("DiagHessian", ext.DiagHessian, ext.DiagHessian, "diag_h", "hessian", None),
        Extension("DiagGGNMC-native", lambda: NativeDiagGGN("mc"),
                  lambda: NativeDiagGGN("mc", mc_samples=GATE_MC_SAMPLES), "diag_ggn_mc", "mc",
                  ref.ggn_diagonal, "native"),
        Extension("DiagGGNExact-native", lambda: NativeDiagGGN("exact"),
                  lambda: NativeDiagGGN("exact"), "diag_ggn_exact", "exact", ref.ggn_diagonal,
                  "native"),
    ]
}  # fmt: skip

#: Each native extension and the BackPACK extension it races.
NATIVE_OF = {e.name: e.name.removesuffix("-native") for e in EXTENSIONS.values()
             if e.backend == "native"}  # fmt: skip

#: Timed regions (``regions.REGIONS``): backward only, forward+backward, the paper's timed
#: call (fetching the first batch of a freshly shuffled, augmented DataLoader, then
#: forward and backward), and for the curvature optimizers their own step() and the whole
#: iteration.
REGIONS = tuple(_REGIONS)


def step_extensions() -> dict[str, tuple[str, str]]:
    """The extensions with an optimizer step: the registry's curvature optimizers.

    Returns:
        Extension name (``-native`` for ggnbench's own) to the optimizer's registry name
        and backend, for the ``step`` and ``iteration`` regions.
    """
    return {
        f"{source.name}{suffix}": (name, backend)
        for name, source in curvature_sources().items()
        for backend, suffix in (("backpack", ""), ("native", "-native"))
        if backend in source.backends
    }


#: :func:`step_extensions` of the registry as imported.
STEP_EXTENSIONS = step_extensions()
