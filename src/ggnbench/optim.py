"""The DiagGGN optimizer and the registry that builds every optimizer by name."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from backpack.extensions import DiagGGNExact, DiagGGNMC
from backpack.extensions.backprop_extension import BackpropExtension
from torch import Tensor
from torch.optim import Optimizer

from ggnbench.errors import GGNBenchError

#: BackPACK extension class and the parameter attribute it fills, per curvature kind.
CURVATURES: dict[str, tuple[type[BackpropExtension], str]] = {
    "mc": (DiagGGNMC, "diag_ggn_mc"),
    "exact": (DiagGGNExact, "diag_ggn_exact"),
}


class DiagGGN(Optimizer):
    """Diagonal generalized Gauss-Newton optimizer built on BackPACK.

    The update is ``p <- p - lr * (grad + wd * p) / (diag + damping + wd)``, the
    paper's ``theta <- theta - eta (C + (lambda + delta) I)^-1 (g + delta theta)``
    with ``C`` the GGN diagonal, ``lambda`` the damping and ``delta`` the weight decay.

    The diagonal is read from the attribute that BackPACK's extension fills during
    ``loss.backward()`` inside ``with backpack(*optimizer.backpack_extensions())``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        damping: float,
        curvature: str = "mc",
        weight_decay: float = 0.0,
    ) -> None:
        """Create the optimizer.

        Args:
            params: Parameters or parameter groups, as for any torch optimizer.
            lr: Step size, > 0.
            damping: Added to the curvature diagonal, >= 0.
            curvature: ``"mc"`` (DiagGGNMC, one Monte-Carlo sample) or ``"exact"``.
            weight_decay: L2 coefficient, >= 0; enters gradient and denominator.

        Raises:
            GGNBenchError: If a hyperparameter is out of range or unknown.
        """
        if curvature not in CURVATURES:
            raise GGNBenchError(f"unknown curvature {curvature!r}; use one of {sorted(CURVATURES)}")
        check_positive("lr", lr)
        check_non_negative("damping", damping)
        check_non_negative("weight_decay", weight_decay)
        self.curvature = curvature
        defaults = {"lr": lr, "damping": damping, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def backpack_extensions(self) -> tuple[BackpropExtension, ...]:
        """The BackPACK extensions that ``backward`` must run for :meth:`step`.

        Returns:
            A fresh instance of the curvature extension.
        """
        return (CURVATURES[self.curvature][0](),)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """Apply one update to every parameter that has a gradient.

        Args:
            closure: Not supported; present for the torch interface.

        Returns:
            None.

        Raises:
            GGNBenchError: If a closure is passed, or a parameter with a gradient
                lacks the curvature attribute (backward ran without the extension).
        """
        if closure is not None:
            raise GGNBenchError("DiagGGN.step takes no closure; call backward first")
        attr = CURVATURES[self.curvature][1]
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            missing = [i for i, p in enumerate(params) if not hasattr(p, attr)]
            if missing:
                raise GGNBenchError(
                    f"parameter {missing[0]} has no '{attr}': run loss.backward() inside "
                    "`with backpack(*optimizer.backpack_extensions()):` on an extended model"
                )
            grads = [p.grad for p in params]
            diags = [getattr(p, attr) for p in params]
            wd = group["weight_decay"]
            numer = torch._foreach_add(grads, params, alpha=wd) if wd != 0.0 else grads
            denom = torch._foreach_add(diags, group["damping"] + wd)
            torch._foreach_addcdiv_(params, numer, denom, value=-group["lr"])
        return None


def check_positive(name: str, value: float) -> None:
    """Reject a hyperparameter that is not a finite number > 0.

    Args:
        name: Hyperparameter name, for the message.
        value: Its value.

    Raises:
        GGNBenchError: If the value is not finite and positive.
    """
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise GGNBenchError(f"{name} must be a finite number > 0, got {value!r}")


def check_non_negative(name: str, value: float) -> None:
    """Reject a hyperparameter that is not a finite number >= 0.

    Args:
        name: Hyperparameter name, for the message.
        value: Its value.

    Raises:
        GGNBenchError: If the value is not finite and non-negative.
    """
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise GGNBenchError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class OptimizerSpec:
    """How to build one named optimizer.

    Attributes:
        factory: Builds the optimizer from parameters and hyperparameters.
        hyperparams: Names of the hyperparameters it accepts (besides ``lr``).
    """

    factory: Callable[..., Optimizer]
    hyperparams: tuple[str, ...]


def _sgd(params: Any, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> Optimizer:
    check_non_negative("momentum", momentum)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def _adam(params: Any, lr: float, weight_decay: float = 0.0) -> Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _diag_ggn(curvature: str) -> Callable[..., Optimizer]:
    def build(params: Any, lr: float, damping: float, weight_decay: float = 0.0) -> Optimizer:
        return DiagGGN(
            params, lr=lr, damping=damping, curvature=curvature, weight_decay=weight_decay
        )

    return build


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec(_sgd, ("momentum", "weight_decay")),
    "adam": OptimizerSpec(_adam, ("weight_decay",)),
    "diag_ggn_mc": OptimizerSpec(_diag_ggn("mc"), ("damping", "weight_decay")),
    "diag_ggn_exact": OptimizerSpec(_diag_ggn("exact"), ("damping", "weight_decay")),
}


def uses_damping(name: str) -> bool:
    """Whether the named optimizer takes a damping hyperparameter.

    Args:
        name: Registry name.

    Returns:
        True for the DiagGGN variants.
    """
    return "damping" in get_spec(name).hyperparams


def get_spec(name: str) -> OptimizerSpec:
    """Look up a registry entry.

    Args:
        name: Registry name.

    Returns:
        The entry.

    Raises:
        GGNBenchError: If the name is unknown.
    """
    if name not in OPTIMIZERS:
        raise GGNBenchError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def build_optimizer(
    name: str, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float, **hparams: float
) -> Optimizer:
    """Build a registered optimizer after validating its hyperparameters.

    Hyperparameters that the optimizer does not take must be absent or ``None``.

    Args:
        name: Registry name (``sgd``, ``adam``, ``diag_ggn_mc``, ``diag_ggn_exact``).
        params: Parameters or parameter groups.
        lr: Learning rate, > 0.
        **hparams: Further hyperparameters, such as ``damping`` or ``momentum``.

    Returns:
        The optimizer.

    Raises:
        GGNBenchError: On an unknown name, an unknown or missing hyperparameter,
            or a value out of range.
    """
    spec = get_spec(name)
    check_positive("lr", lr)
    given = {k: v for k, v in hparams.items() if v is not None}
    unknown = sorted(set(given) - set(spec.hyperparams))
    if unknown:
        raise GGNBenchError(
            f"optimizer {name!r} does not take {unknown}; it takes {list(spec.hyperparams)}"
        )
    if "damping" in spec.hyperparams and "damping" not in given:
        raise GGNBenchError(f"optimizer {name!r} needs a damping value (>= 0)")
    for key, value in given.items():
        check_non_negative(key, value)
    return spec.factory(params, lr=lr, **given)


def backpack_extensions(optimizer: Optimizer) -> tuple[BackpropExtension, ...]:
    """The BackPACK extensions an optimizer declares; empty for first-order ones.

    Args:
        optimizer: Any torch optimizer.

    Returns:
        The extensions to activate during ``backward``.
    """
    declared = getattr(optimizer, "backpack_extensions", None)
    return tuple(declared()) if callable(declared) else ()
