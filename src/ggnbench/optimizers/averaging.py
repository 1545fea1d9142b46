"""The running average of curvature observations that a curvature optimizer steps with.

Its two options, :class:`CurvatureAverage` and :class:`SharedFactors`, are every
curvature optimizer's (:class:`~ggnbench.optimizers.curvature.CurvatureOptimizer`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import torch
from torch import Tensor


class CurvatureAverage(StrEnum):
    """How the curvature entering the update is formed from the mini-batch observations."""

    NONE = "none"
    MEAN = "mean"
    EMA = "ema"


class SharedFactors(StrEnum):
    """How a factor tensor that BackPACK hands to two parameters is averaged.

    As each parameter's own copy (``separate``), or as the one tensor it is, updated in
    place once per parameter that holds it (``aliased``, the paper's code: under KFRA a
    Linear layer's output factor is also its bias's, so the paper averaged it twice a step).
    """

    SEPARATE = "separate"
    ALIASED = "aliased"


#: The first observation initialises the ``mean``; later weights are ``min(1/(t+1), MAX)``.
MEAN_MAX_WEIGHT = 0.9


class RunningAverage:
    """Fold mini-batch curvature observations into a per-parameter estimate.

    An observation is a list of tensors per parameter (one diagonal, or Kronecker
    factors). Modes (:class:`CurvatureAverage`):

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

    def __init__(
        self,
        state: dict[Tensor, dict[str, Any]],
        mode: CurvatureAverage | str,
        beta: float,
        shared: SharedFactors | str,
    ):
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
        if self.mode == CurvatureAverage.NONE:
            return observed
        state = self.state[p]
        seen = state.get("observations", 0)
        state["observations"] = seen + 1
        if self.mode == CurvatureAverage.MEAN:
            if seen == 0:
                keep = self.shared == SharedFactors.ALIASED
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
