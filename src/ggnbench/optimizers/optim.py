"""The registry that builds every optimizer by name, and the backward pass each one needs.

The curvature optimizers live in their own modules (:mod:`ggnbench.optimizers.diag_ggn`,
:mod:`ggnbench.optimizers.kfac`) on the interface of :mod:`ggnbench.optimizers.curvature`;
an entry of
:data:`OPTIMIZERS` names the factory, its hyperparameters, its relative step cost and its
curvature source, from which the command line, the studies and the benchmarks take what
they need.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from backpack import backpack, extend
from backpack.extensions.backprop_extension import BackpropExtension
from torch import Tensor, nn
from torch.optim import Optimizer

from ggnbench.checks import check_non_negative, check_positive
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers import diag_ggn, hyperparams, kfac, plugins
from ggnbench.optimizers.curvature import CurvatureSource
from ggnbench.optimizers.diag_ggn import DiagGGN

__all__ = [
    "OPTIMIZERS",
    "DiagGGN",
    "OptimizerSpec",
    "build_optimizer",
    "check_non_negative",
    "check_positive",
    "curvature_sources",
    "get_spec",
    "hyperparameters",
]


@dataclass(frozen=True)
class OptimizerSpec:
    """How to build one named optimizer.

    Attributes:
        factory: Builds the optimizer from parameters and hyperparameters.
        hyperparams: Names of the hyperparameters it accepts (besides ``lr``).
        cost: Time of one step relative to SGD's, for scheduling (the workflow starts the
            slowest jobs first); measured on fmnist_2c2d at one thread (README; KFRA,
            refused there, is given KFLR's).
        curvature: The curvature source it reads after the backward pass, if any.
        label: Its name in figures and their legends; None: the registry name. (Its colour
            and marker follow from its place in the registry, :mod:`ggnbench.report.styles`.)
    """

    factory: Callable[..., Optimizer]
    hyperparams: tuple[str, ...]
    cost: float = 1.0
    curvature: CurvatureSource | None = None
    label: str | None = None


def _sgd(params: Any, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def _adam(params: Any, lr: float, weight_decay: float = 0.0) -> Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _diag_ggn(curvature: str) -> Callable[..., Optimizer]:
    def build(params: Any, lr: float, damping: float, **options: Any) -> Optimizer:
        return DiagGGN(params, lr=lr, damping=damping, curvature=curvature, **options)

    return build


def _kronecker(source: CurvatureSource) -> Callable[..., Optimizer]:
    def build(params: Any, lr: float, damping: float, **options: Any) -> Optimizer:
        return kfac.KroneckerFactored(params, lr=lr, damping=damping, source=source, **options)

    return build


_AVERAGED = ("damping", "weight_decay", "curvature_average", "curvature_beta")
_DIAG_GGN_HPARAMS = (*_AVERAGED, "backend")
_KRONECKER_HPARAMS = (*_AVERAGED, "shared_factors", "inverse_every")

OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec(_sgd, ("momentum", "weight_decay"), cost=1.0, label="SGD"),
    "adam": OptimizerSpec(_adam, ("weight_decay",), cost=1.2, label="Adam"),
    "diag_ggn_mc": OptimizerSpec(
        _diag_ggn("mc"), _DIAG_GGN_HPARAMS, cost=2.4, curvature=diag_ggn.MC, label="DiagGGN-MC"
    ),
    "diag_ggn_exact": OptimizerSpec(
        _diag_ggn("exact"),
        _DIAG_GGN_HPARAMS,
        cost=9.6,
        curvature=diag_ggn.EXACT,
        label="exact DiagGGN",
    ),
    "kfac": OptimizerSpec(
        _kronecker(kfac.KFAC_SOURCE),
        _KRONECKER_HPARAMS,
        cost=39.0,
        curvature=kfac.KFAC_SOURCE,
        label="KFAC",
    ),
    "kflr": OptimizerSpec(
        _kronecker(kfac.KFLR_SOURCE),
        _KRONECKER_HPARAMS,
        cost=41.0,
        curvature=kfac.KFLR_SOURCE,
        label="KFLR",
    ),
    "kfra": OptimizerSpec(
        _kronecker(kfac.KFRA_SOURCE),
        _KRONECKER_HPARAMS,
        cost=41.0,
        curvature=kfac.KFRA_SOURCE,
        label="KFRA",
    ),
}


for _name, _spec in OPTIMIZERS.items():
    for _hyperparameter in _spec.hyperparams:
        hyperparams.get(_hyperparameter)  # every optimizer takes registered ones only


def curvature_sources() -> dict[str, CurvatureSource]:
    """Every curvature optimizer's source, by optimizer name.

    Returns:
        Registry name to curvature source, for the optimizers that have one.
    """
    return {name: spec.curvature for name, spec in OPTIMIZERS.items() if spec.curvature}


def hyperparameters() -> tuple[str, ...]:
    """Every hyperparameter some built-in optimizer takes besides ``lr`` and weight decay.

    Returns:
        The names, in registry order.
    """
    names = (n for spec in OPTIMIZERS.values() for n in spec.hyperparams if n != "weight_decay")
    return tuple(dict.fromkeys(names))


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
    name: str,
    params: Iterable[Tensor] | Iterable[dict[str, Any]],
    lr: float,
    **hparams: float | str | None,
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
        hyperparams.get(key).check(value)
    return spec.factory(params, lr=lr, **given)


def build_from_class(
    path: str,
    params: Iterable[Tensor] | Iterable[dict[str, Any]],
    lr: float,
    hparams: dict[str, Any],
) -> Optimizer:
    """Build an optimizer named by import path, with its hyperparameters checked first.

    Args:
        path: ``package.module:Class``.
        params: Parameters or parameter groups.
        lr: Learning rate, > 0.
        hparams: Its other constructor arguments.

    Returns:
        The optimizer.

    Raises:
        GGNBenchError: If the class cannot be loaded, does not take or needs a
            hyperparameter, or its constructor rejects a value.
    """
    cls = plugins.load_class(path)
    check_positive("lr", lr)
    plugins.check_hparams(path, cls, ["lr", *hparams])
    try:
        return cls(params, lr=lr, **hparams)
    except (TypeError, ValueError) as err:
        message = f"optimizer class {path!r} rejected its hyperparameters: {err}"
        raise GGNBenchError(message) from err


def backpack_extensions(optimizer: Optimizer) -> tuple[BackpropExtension, ...]:
    """The BackPACK extensions an optimizer declares; empty for first-order ones.

    Args:
        optimizer: Any torch optimizer.

    Returns:
        The extensions to activate during ``backward``.
    """
    if isinstance(optimizer, plugins.UsesBackpack):
        return tuple(optimizer.backpack_extensions())
    return ()


def prepare(
    optimizer: Optimizer, model: nn.Module, loss_fn: nn.Module
) -> tuple[nn.Module, nn.Module]:
    """Make model and loss ready for the optimizer's backward pass.

    An optimizer declaring BackPACK extensions (:class:`~ggnbench.optimizers.plugins.UsesBackpack`)
    gets the model and loss extended; one with ``attach(model, loss_fn)``
    (:class:`~ggnbench.optimizers.plugins.OwnsBackward`; DiagGGN's native backend registers its
    hooks
    there) gets it called; others get them unchanged.

    Args:
        optimizer: Any torch optimizer.
        model: The network.
        loss_fn: The loss.

    Returns:
        The model and loss to use from now on.
    """
    if backpack_extensions(optimizer):
        model, loss_fn = extend(model), extend(loss_fn)
    if isinstance(optimizer, plugins.OwnsBackward):
        optimizer.attach(model, loss_fn)
    return model, loss_fn


def backward(optimizer: Optimizer, loss: Tensor) -> None:
    """``loss.backward()`` inside whatever context the optimizer's step needs.

    Args:
        optimizer: Any torch optimizer (made ready by :func:`prepare`).
        loss: The mini-batch loss.
    """
    with backward_context(optimizer):
        loss.backward()


@contextlib.contextmanager
def backward_context(optimizer: Optimizer) -> Iterator[None]:
    """The optimizer's own ``backward_context()``, else ``backpack(...)`` with its extensions.

    Args:
        optimizer: Any torch optimizer.

    Yields:
        Nothing; the backward pass runs inside.
    """
    if isinstance(optimizer, plugins.OwnsBackward):
        with optimizer.backward_context():
            yield
        return
    extensions = backpack_extensions(optimizer)
    with backpack(*extensions) if extensions else contextlib.nullcontext():
        yield
