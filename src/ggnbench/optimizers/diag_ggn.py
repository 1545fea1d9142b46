"""The diagonal generalized Gauss-Newton optimizer (DiagGGN, exact or Monte-Carlo)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backpack.extensions import DiagGGNExact, DiagGGNMC
from torch import Tensor

from ggnbench import defaults as run_defaults
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers.averaging import CurvatureAverage, SharedFactors
from ggnbench.optimizers.curvature import Backend, CurvatureOptimizer, CurvatureSource, Structure

#: The GGN diagonal from one Monte-Carlo sample per example, or exactly.
MC = CurvatureSource(DiagGGNMC, "diag_ggn_mc", Structure.DIAGONAL, native="mc")
EXACT = CurvatureSource(DiagGGNExact, "diag_ggn_exact", Structure.DIAGONAL, native="exact")
#: The diagonals by their short name (the ``curvature`` argument).
SOURCES = {"mc": MC, "exact": EXACT}


class DiagGGN(CurvatureOptimizer):
    """Diagonal generalized Gauss-Newton optimizer built on BackPACK.

    The update is ``p <- p - lr * (grad + wd * p) / (m + damping + wd)``, the paper's
    ``theta <- theta - eta (C + (lambda + delta) I)^-1 (g + delta theta)`` with ``m``
    the curvature estimate, ``lambda`` the damping and ``delta`` the weight decay. The
    mini-batch GGN diagonal is read from ``diag_ggn_mc`` or ``diag_ggn_exact``, filled
    during ``loss.backward()`` by BackPACK (``backend="backpack"``) or by
    :mod:`ggnbench.optimizers.ggn` (``backend="native"``); see
    :class:`~ggnbench.optimizers.curvature.CurvatureOptimizer`. ``curvature_average`` forms ``m``
    (:class:`~ggnbench.optimizers.averaging.RunningAverage`), and the arithmetic follows the
    reference
    each mode reproduces:

    - ``none``: the current diagonal, BackPACK's documentation example; with no weight
      decay the step is the example's ``d = g / (diag + damping)``, ``p.add_(d, alpha=-lr)``.
    - ``mean``: the mean of every diagonal so far, the paper's optimizer; the step is its
      ``p += (1 / (m + (damping + wd))) * ((-g - wd * p) * lr)``.
    - ``ema``: a bias-corrected exponential average, with the paper's step.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        damping: float,
        curvature: str = "mc",
        weight_decay: float = 0.0,
        curvature_average: CurvatureAverage | str = CurvatureAverage.NONE,
        curvature_beta: float = run_defaults.CURVATURE_BETA,
        backend: Backend | str = Backend.BACKPACK,
    ) -> None:
        """Create the optimizer.

        Args:
            params: Parameters or parameter groups, as for any torch optimizer.
            lr: Step size, > 0.
            damping: Added to the curvature diagonal, >= 0.
            curvature: ``"mc"`` (DiagGGNMC, one Monte-Carlo sample) or ``"exact"``.
            weight_decay: L2 coefficient, >= 0; enters gradient and denominator.
            curvature_average: ``"none"``, ``"mean"`` or ``"ema"``.
            curvature_beta: Decay of the ``ema`` average, in [0, 1).
            backend: ``"backpack"`` or ``"native"``.

        Raises:
            GGNBenchError: If a hyperparameter is out of range or unknown.
        """
        if curvature not in SOURCES:
            raise GGNBenchError(f"unknown curvature {curvature!r}; use one of {sorted(SOURCES)}")
        self.curvature = curvature
        group_defaults = {
            "lr": lr,
            "damping": damping,
            "weight_decay": weight_decay,
            "curvature_average": curvature_average,
            "curvature_beta": curvature_beta,
            "shared_factors": SharedFactors.SEPARATE,
        }
        super().__init__(params, group_defaults, SOURCES[curvature], backend)

    def update(
        self, group: dict[str, Any], params: list[Tensor], curvature: list[list[Tensor]]
    ) -> None:
        """Divide each (decayed) gradient by its damped diagonal and step.

        Args:
            group: The parameter group.
            params: Its parameters that have a gradient.
            curvature: Each one's diagonal estimate (a one-element list).
        """
        lr, wd, damping = group["lr"], group["weight_decay"], group["damping"]
        shift = damping + wd
        for p, (estimate,) in zip(params, curvature, strict=True):
            if group["curvature_average"] == CurvatureAverage.NONE:
                if wd == 0.0:
                    direction = p.grad / (estimate + damping)
                else:
                    direction = (p.grad + wd * p) / (estimate + shift)
                p.add_(direction, alpha=-lr)
                continue
            inverse = 1 / (estimate + shift)
            p.add_(inverse * ((-p.grad - wd * p) * lr))
