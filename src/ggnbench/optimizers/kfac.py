"""The Kronecker-factored optimizers KFAC, KFLR and KFRA, with the paper's arithmetic.

BackPACK leaves on each weight its factors ``[G, A]`` (output side, input side; the
curvature block is ``G (x) A`` in row-major order) and on each bias ``[G]``. With ``delta``
the group's weight decay and ``lambda`` the damping, the shift ``gamma = lambda + delta`` is
split between the factors by ``pi = sqrt((tr A / dim A) / (tr G / dim G))``: ``A`` gets
``pi sqrt(gamma)``, ``G`` gets ``sqrt(gamma) / pi``; a bias's factor gets ``gamma``. Each
damped factor is inverted by eigendecomposition of its upper triangle (as the paper's
``symeig`` read it), the reciprocal eigenvalues clamped to ``[0, 1 / 1e-8]``, and rebuilt as
``einsum('ij,j,kj->ik', V, d, V)``. The step is ``v = -lr (g + delta theta)``, then
``theta <- theta + G^-1 v A^-T`` (one ``einsum('bd,ab,cd->ac', ...)``, BackPACK 1.0.0's
Kronecker product) or ``theta <- theta + B^-1 v`` for a bias.

The paper inverted every step; ``inverse_every`` k > 1 reuses the inverses for k steps
(the curvature is still averaged every step).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from backpack.extensions import KFAC, KFLR, KFRA
from torch import Tensor

from ggnbench import defaults as run_defaults
from ggnbench.checks import check_positive_int
from ggnbench.errors import GGNBenchError, StepFailure
from ggnbench.optimizers.averaging import CurvatureAverage, SharedFactors
from ggnbench.optimizers.curvature import CurvatureOptimizer, CurvatureSource, Structure

#: Martens and Grosse's factors with one Monte-Carlo sample, Botev et al.'s exact low-rank
#: factors, and their recursive approximation (dense backpropagated curvature).
KFAC_SOURCE = CurvatureSource(KFAC, "kfac", Structure.KRONECKER)
KFLR_SOURCE = CurvatureSource(KFLR, "kflr", Structure.KRONECKER)
KFRA_SOURCE = CurvatureSource(KFRA, "kfra", Structure.KRONECKER, dense_backpropagation=True)

#: Reciprocal eigenvalues are clamped to [0, 1 / EIGENVALUE_FLOOR].
EIGENVALUE_FLOOR = 1e-8


def tikhonov_pi(g: Tensor, a: Tensor) -> Tensor:
    """The factored Tikhonov split ``pi = sqrt((tr A / dim A) / (tr G / dim G))``.

    Args:
        g: Output-side factor ``G``.
        a: Input-side factor ``A``.

    Returns:
        ``pi`` as a 0-dimensional tensor.
    """
    (dim_a, _), (dim_g, _) = a.shape, g.shape
    return ((a.trace() / dim_a) / (g.trace() / dim_g)).sqrt()


def checked_eigh(factor: Tensor) -> tuple[Tensor, Tensor, bool]:
    """Eigendecomposition of a factor's upper triangle, its result checked for finiteness.

    LAPACK can return NaN for a finite float32 input without raising (seen with MKL's
    ``ssyevd`` on a 512x512 factor of ``cifar10_3c3d`` at one thread). The paper's arithmetic
    stays wherever the result is finite; where it is not, the same upper triangle is
    decomposed again in float64 and the result rounded back to the factor's dtype.

    Args:
        factor: A square matrix whose upper triangle is read.

    Returns:
        Eigenvalues, eigenvectors (columns) in the factor's dtype, and whether the float64
        retry was needed.

    Raises:
        StepFailure: If the factor itself is not finite, or the eigendecomposition fails or
            stays non-finite in float64.
    """
    size = f"{factor.shape[0]}x{factor.shape[1]}"
    if not torch.isfinite(factor).all():
        raise StepFailure(f"its {size} Kronecker factor is not finite (the curvature overflowed)")
    retried = False
    for dtype in (factor.dtype, torch.float64):
        try:
            eigenvalues, eigenvectors = torch.linalg.eigh(factor.to(dtype), UPLO="U")
        except torch.linalg.LinAlgError as err:
            first = str(err).strip().splitlines()[0]
            raise StepFailure(
                f"eigendecomposition of its {size} Kronecker factor failed ({first}); a "
                "larger damping, or another thread count, may avoid it"
            ) from err
        if torch.isfinite(eigenvalues).all() and torch.isfinite(eigenvectors).all():
            return eigenvalues.to(factor.dtype), eigenvectors.to(factor.dtype), retried
        if factor.dtype == torch.float64:
            break
        retried = True
    raise StepFailure(
        f"eigendecomposition of its {size} Kronecker factor returned non-finite values, "
        "in float64 too; a larger damping may avoid it"
    )


def damped_inverse(factor: Tensor, shift: Tensor | float) -> tuple[Tensor, bool]:
    """``(factor + shift I)^-1`` from the eigendecomposition of the factor's upper triangle.

    Args:
        factor: A symmetric (up to rounding) square matrix.
        shift: Added to every eigenvalue.

    Returns:
        The inverse, reciprocal eigenvalues clamped to ``[0, 1 / EIGENVALUE_FLOOR]``, and
        whether the eigendecomposition was retried in float64 (:func:`checked_eigh`).
    """
    eigenvalues, eigenvectors, retried = checked_eigh(factor)
    eigenvalues.add_(shift)
    inverse_eigenvalues = 1.0 / eigenvalues
    inverse_eigenvalues.clamp_(min=0.0, max=1.0 / EIGENVALUE_FLOOR)
    inverse = torch.einsum("ij,j,kj->ik", eigenvectors, inverse_eigenvalues, eigenvectors)
    return inverse, retried


def factor_inverses(factors: list[Tensor], shift: float) -> tuple[list[Tensor], list[str]]:
    """The damped inverses of one parameter's Kronecker factors.

    Args:
        factors: ``[G, A]`` for a weight or ``[G]`` for a bias.
        shift: ``damping + weight_decay`` of its group.

    Returns:
        ``[G^-1, A^-1]`` or ``[B^-1]``, damped as the module describes, and the names
        (``G``, ``A``) of the factors whose eigendecomposition was retried in float64.

    Raises:
        GGNBenchError: If there are more than two factors.
    """
    if len(factors) == 1:
        inverse, retried = damped_inverse(factors[0], shift)
        return [inverse], ["G"] if retried else []
    if len(factors) != 2:
        raise GGNBenchError(f"got {len(factors)} Kronecker factors; KFAC handles one or two")
    g, a = factors
    pi = tikhonov_pi(g, a)
    inverse_a, retried_a = damped_inverse(a, pi * math.sqrt(shift))
    inverse_g, retried_g = damped_inverse(g, 1.0 / pi * math.sqrt(shift))
    retried = [name for name, flag in (("G", retried_g), ("A", retried_a)) if flag]
    return [inverse_g, inverse_a], retried


def kronecker_product(inverses: list[Tensor], v: Tensor) -> Tensor:
    """``(G^-1 (x) A^-1) vec(v)`` as BackPACK 1.0.0 multiplied a vector with factors.

    Args:
        inverses: ``[G^-1, A^-1]`` or ``[B^-1]``.
        v: A tensor shaped like the parameter.

    Returns:
        The product, shaped like ``v``.
    """
    flat = v.view(-1)
    if len(inverses) == 1:
        return torch.einsum("b,ab->a", flat, inverses[0]).view(-1).view_as(v)
    columns = [f.shape[1] for f in inverses]
    product = torch.einsum("bd,ab,cd->ac", flat.view(columns), *inverses)
    # CUDA's einsum can return the product transposed in memory, where a view fails;
    # on a contiguous product (the CPU's) reshape is that view, so the values are the same.
    return product.reshape(v.shape)


class KroneckerFactored(CurvatureOptimizer):
    """Constant damping around a Kronecker-factored curvature (KFAC, KFLR or KFRA).

    See the module for the arithmetic. ``curvature_average`` (``mean``: the paper's) and
    ``shared_factors`` (``aliased``: the paper's treatment of KFRA's shared factor) are
    :class:`~ggnbench.optimizers.averaging.RunningAverage`'s. The inverses live in
    ``state[p]["inverse"]`` and are recomputed every ``inverse_every`` steps.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        damping: float,
        source: CurvatureSource = KFAC_SOURCE,
        weight_decay: float = 0.0,
        curvature_average: CurvatureAverage | str = CurvatureAverage.NONE,
        curvature_beta: float = run_defaults.CURVATURE_BETA,
        shared_factors: SharedFactors | str = SharedFactors.SEPARATE,
        inverse_every: int = 1,
    ) -> None:
        """Create the optimizer.

        Args:
            params: Parameters or parameter groups.
            lr: Step size, > 0.
            damping: Tikhonov damping ``lambda``, >= 0.
            source: The Kronecker-factored curvature (KFAC, KFLR or KFRA).
            weight_decay: L2 coefficient ``delta``, >= 0; enters gradient and shift.
            curvature_average: ``none``, ``mean`` or ``ema``.
            curvature_beta: Decay of ``ema``, in [0, 1).
            shared_factors: ``separate`` or ``aliased``.
            inverse_every: Recompute the inverses every this many steps (>= 1).

        Raises:
            GGNBenchError: If a hyperparameter is out of range or unknown.
        """
        check_positive_int("inverse_every", inverse_every)
        if source.structure is not Structure.KRONECKER:
            raise GGNBenchError(f"{source.name} is not a Kronecker-factored curvature")
        group_defaults = {
            "lr": lr,
            "damping": damping,
            "weight_decay": weight_decay,
            "curvature_average": curvature_average,
            "curvature_beta": curvature_beta,
            "shared_factors": shared_factors,
            "inverse_every": inverse_every,
        }
        super().__init__(params, group_defaults, source)

    def update(
        self, group: dict[str, Any], params: list[Tensor], curvature: list[list[Tensor]]
    ) -> None:
        """Precondition each decayed gradient with its damped inverse factors and step.

        Args:
            group: The parameter group.
            params: Its parameters that have a gradient.
            curvature: Each one's Kronecker factors.

        Raises:
            StepFailure: If a factor cannot be inverted; the message names the parameter
                and the step.
        """
        shift = group["damping"] + group["weight_decay"]
        for p, factors in zip(params, curvature, strict=True):
            state = self.state[p]
            steps = state.get("steps", 0)
            if steps % group["inverse_every"] == 0 or "inverse" not in state:
                try:
                    state["inverse"], retried = factor_inverses(factors, shift)
                except StepFailure as err:
                    raise StepFailure(f"{self.describe(p)} at step {steps}: {err}") from err
                for name in retried:
                    size = factors[0 if name == "G" else 1].shape
                    self.record_retry(p, steps, name, tuple(size))
            state["steps"] = steps + 1
            direction = (-p.grad - group["weight_decay"] * p) * group["lr"]
            p.add_(kronecker_product(state["inverse"], direction))
