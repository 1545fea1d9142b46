"""CONTRIBUTING.md's example of a new curvature optimizer with a hyperparameter of its own.

A Newton step on BackPACK's Hessian diagonal, raised to a power: ``exponent`` is a
hyperparameter no built-in optimizer has. This module is all the code it needs; the one
registry entry that makes it built in is :data:`SPEC` put into
``ggnbench.optimizers.optim.OPTIMIZERS`` (the tests do that in-process, or in every
process of a workflow through a ``sitecustomize`` module). Nothing in the command line,
the schema or the workflow's rules names it.
"""

from __future__ import annotations

from backpack.extensions import DiagHessian

from ggnbench.optimizers import hyperparams as hp
from ggnbench.optimizers.curvature import CurvatureOptimizer, CurvatureSource
from ggnbench.optimizers.hyperparams import Hyperparameter
from ggnbench.optimizers.optim import OptimizerSpec

SOURCE = CurvatureSource(DiagHessian, "diag_h", "diagonal")

#: Its own hyperparameter: a number >= 0, which a study may tune over a grid.
EXPONENT = Hyperparameter(
    "exponent", "the power of the damped Hessian diagonal the gradient is divided by", grid=True
)


class DiagHessianNewton(CurvatureOptimizer):
    """``p -= lr * (g + wd p) / (|h| + damping) ** exponent``, ``h`` the Hessian diagonal."""

    def __init__(
        self,
        params,
        lr: float,
        damping: float,
        exponent: float = 1.0,
        weight_decay: float = 0.0,
        curvature_average: str = "none",
        curvature_beta: float = 0.95,
    ) -> None:
        defaults = {
            "lr": lr, "damping": damping, "exponent": exponent, "weight_decay": weight_decay,
            "curvature_average": curvature_average, "curvature_beta": curvature_beta,
            "shared_factors": "separate",
        }  # fmt: skip
        super().__init__(params, defaults, SOURCE)

    def update(self, group, params, curvature) -> None:
        """One step of every parameter of a group from its averaged Hessian diagonal."""
        for p, (h,) in zip(params, curvature, strict=True):
            denominator = (h.abs() + group["damping"]) ** group["exponent"]
            p.add_((p.grad + group["weight_decay"] * p) / denominator, alpha=-group["lr"])


#: The registry entry: its hyperparameters (shared ones and its own), cost and curvature.
SPEC = OptimizerSpec(
    DiagHessianNewton,
    (hp.DAMPING, hp.CURVATURE_AVERAGE, hp.CURVATURE_BETA, EXPONENT),
    cost=3.0,
    curvature=SOURCE,
    label="DiagHessian",
)
