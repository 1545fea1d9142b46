"""A user's optimizer: diagonal Gauss-Newton with heavy-ball momentum.

It lives outside ggnbench and uses only its public interface: a
``torch.optim.Optimizer`` subclass that declares the BackPACK extension it needs in
``backpack_extensions()``. ggnbench then extends model and loss, runs every backward
pass inside ``with backpack(...)``, and ``step()`` finds the mini-batch GGN diagonal
on each parameter (``p.diag_ggn_mc`` or ``p.diag_ggn_exact``).

The update, per parameter, with ``g`` the gradient, ``d`` the GGN diagonal, ``wd`` the
group's weight decay::

    u = (g + wd * p) / (d + damping + wd)      # ggnbench's DiagGGN direction
    b = u                 (first step)
    b = momentum * b + u  (later steps)
    p = p - lr * b

With ``momentum=0`` it is ggnbench's built-in ``diag_ggn_mc`` (``curvature_average:
none``) step for step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from backpack.extensions import DiagGGNExact, DiagGGNMC
from torch import Tensor
from torch.optim import Optimizer

#: The BackPACK extension and the attribute it fills, per curvature.
CURVATURES = {"mc": (DiagGGNMC, "diag_ggn_mc"), "exact": (DiagGGNExact, "diag_ggn_exact")}


class MomentumDiagGGN(Optimizer):
    """Diagonal GGN steps averaged by heavy-ball momentum."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        damping: float,
        momentum: float = 0.9,
        curvature: str = "mc",
        weight_decay: float = 0.0,
    ) -> None:
        """Create the optimizer.

        Args:
            params: Parameters or parameter groups.
            lr: Step size, > 0.
            damping: Added to the GGN diagonal, >= 0.
            momentum: Heavy-ball coefficient, in [0, 1).
            curvature: ``"mc"`` (one Monte-Carlo sample) or ``"exact"``.
            weight_decay: L2 coefficient (a group's own value takes precedence).

        Raises:
            ValueError: If a value is out of range.
        """
        if lr <= 0 or damping < 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError("need lr > 0, damping >= 0, 0 <= momentum < 1, weight_decay >= 0")
        if curvature not in CURVATURES:
            raise ValueError(f"curvature must be one of {sorted(CURVATURES)}")
        self.curvature = curvature
        defaults = dict(lr=lr, damping=damping, momentum=momentum, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def backpack_extensions(self) -> tuple[Any, ...]:
        """The BackPACK extension whose result :meth:`step` reads.

        Returns:
            A fresh DiagGGNMC or DiagGGNExact.
        """
        return (CURVATURES[self.curvature][0](),)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> None:  # type: ignore[override]
        """Update every parameter that has a gradient.

        Args:
            closure: Unused; the backward pass ran before.
        """
        attr = CURVATURES[self.curvature][1]
        for group in self.param_groups:
            lr, wd, damping = group["lr"], group["weight_decay"], group["damping"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                diag = getattr(p, attr)
                if wd == 0.0:
                    direction = p.grad / (diag + damping)
                else:
                    direction = (p.grad + wd * p) / (diag + (damping + wd))
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = direction.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(direction)
                p.add_(state["momentum_buffer"], alpha=-lr)
