"""Benchmark cases as data: BackPACK extensions, their attributes, and their references.

Each extension names the factory that builds it for timing, the factory for its
correctness gate (Monte-Carlo ones with many samples), the parameter attribute it
fills, and the autograd reference it is checked against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import references as ref
from backpack import extensions as ext

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
    """

    name: str
    factory: Callable[[], object] | None
    gate_factory: Callable[[], object] | None
    attr: str
    kind: str
    reference: Callable | None


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
        Extension("BatchGrad", ext.BatchGrad, ext.BatchGrad, "grad_batch", "exact",
                  ref.per_sample_gradients),
        Extension("Variance", ext.Variance, ext.Variance, "variance", "exact", ref.variance),
        Extension("SumGradSquared", ext.SumGradSquared, ext.SumGradSquared, "sum_grad_squared",
                  "exact", ref.sum_grad_squared),
        Extension("BatchL2Grad", ext.BatchL2Grad, ext.BatchL2Grad, "batch_l2", "exact",
                  ref.batch_l2),
        Extension("DiagHessian", ext.DiagHessian, ext.DiagHessian, "diag_h", "hessian", None),
    ]
}  # fmt: skip

#: Timed regions: backward only, forward+backward, the paper's timed call (fetching the
#: first batch of a freshly shuffled, augmented DataLoader, then forward and backward),
#: and for the DiagGGN optimizers their own step() and the whole iteration.
REGIONS = ("backward", "forward_backward", "paper_call", "step", "iteration")
STEP_EXTENSIONS = {"DiagGGNMC": "diag_ggn_mc", "DiagGGNExact": "diag_ggn_exact"}
