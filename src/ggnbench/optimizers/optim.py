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
from ggnbench.optimizers import diag_ggn, kfac, plugins
from ggnbench.optimizers import hyperparams as hp
from ggnbench.optimizers.curvature import CurvatureSource
from ggnbench.optimizers.diag_ggn import DiagGGN
from ggnbench.optimizers.hyperparams import Hyperparameter

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
    """How to build one named optimizer, and what it takes.

    Attributes:
        factory: Builds the optimizer: ``factory(params, lr=..., weight_decay=..., **h)``
            with ``h`` the given hyperparameters of ``hyperparams``.
        hyperparams: The hyperparameters it takes besides ``lr`` and the problem's weight
            decay (:class:`~ggnbench.optimizers.hyperparams.Hyperparameter`).
        cost: Time of one step relative to SGD's, for scheduling (the workflow starts the
            slowest jobs first); measured on fmnist_2c2d at one thread (README; KFRA,
            refused there, is given KFLR's).
        curvature: The curvature source it reads after the backward pass, if any.
        label: Its name in figures and their legends; None: the registry name. (Its colour
            and marker follow from its place in the registry, :mod:`ggnbench.report.styles`.)
    """

    factory: Callable[..., Optimizer]
    hyperparams: tuple[Hyperparameter, ...]
    cost: float = 1.0
    curvature: CurvatureSource | None = None
    label: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the hyperparameters it takes, in declaration order."""
        return tuple(h.name for h in self.hyperparams)

    def check(self, name: str, given: dict[str, Any]) -> None:
        """Hold a run's hyperparameters to this entry: known, complete, in range.

        Args:
            name: The optimizer's registry name, for the messages.
            given: Hyperparameter name to value (``lr`` and weight decay apart).

        Raises:
            GGNBenchError: On a hyperparameter it does not take, a required one missing,
                or a value out of range, naming it and what the optimizer takes.
        """
        unknown = sorted(set(given) - set(self.names))
        if unknown:
            takes = ", ".join(self.names) or "nothing besides lr"
            raise GGNBenchError(
                f"optimizer {name!r} does not take {', '.join(unknown)}; it takes {takes}"
            )
        for hyperparameter in self.hyperparams:
            if hyperparameter.name in given:
                hyperparameter.check(given[hyperparameter.name])
            elif hyperparameter.required:
                raise GGNBenchError(
                    f"optimizer {name!r} needs a {hyperparameter.name} ({hyperparameter.accepts})"
                )


def _sgd(params: Any, lr: float, weight_decay: float = 0.0, momentum: float = 0.0) -> Optimizer:
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


_AVERAGED = (hp.DAMPING, hp.CURVATURE_AVERAGE, hp.CURVATURE_BETA)
_DIAG_GGN_HPARAMS = (*_AVERAGED, hp.BACKEND)
_KRONECKER_HPARAMS = (*_AVERAGED, hp.SHARED_FACTORS_OPTION, hp.INVERSE_EVERY)

OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec(_sgd, (hp.MOMENTUM,), cost=1.0, label="SGD"),
    "adam": OptimizerSpec(_adam, (), cost=1.2, label="Adam"),
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


def curvature_sources() -> dict[str, CurvatureSource]:
    """Every curvature optimizer's source, by optimizer name.

    Returns:
        Registry name to curvature source, for the optimizers that have one.
    """
    return {name: spec.curvature for name, spec in OPTIMIZERS.items() if spec.curvature}


def hyperparameters() -> dict[str, Hyperparameter]:
    """Every hyperparameter some registered optimizer takes, besides ``lr``.

    Returns:
        Name to entry, in registry order.

    Raises:
        GGNBenchError: If two optimizers declare one name differently.
    """
    found: dict[str, Hyperparameter] = {}
    for name, spec in OPTIMIZERS.items():
        for hyperparameter in spec.hyperparams:
            if found.setdefault(hyperparameter.name, hyperparameter) != hyperparameter:
                raise GGNBenchError(
                    f"optimizer {name!r} declares {hyperparameter.name} unlike another "
                    "optimizer of the registry; give both the one declaration"
                )
    return found


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
    weight_decay: float = 0.0,
    **hparams: float | str,
) -> Optimizer:
    """Build a registered optimizer after validating its hyperparameters.

    Args:
        name: Registry name (``sgd``, ``adam``, ``diag_ggn_mc``, ...).
        params: Parameters or parameter groups.
        lr: Learning rate, > 0.
        weight_decay: L2 on the parameters (groups may carry their own), >= 0.
        **hparams: Its hyperparameters (:attr:`OptimizerSpec.hyperparams`), such as
            ``damping`` or ``momentum``.

    Returns:
        The optimizer.

    Raises:
        GGNBenchError: On an unknown name, an unknown or missing hyperparameter,
            or a value out of range.
    """
    spec = get_spec(name)
    check_positive("lr", lr)
    check_non_negative("weight_decay", weight_decay)
    spec.check(name, hparams)
    return spec.factory(params, lr=lr, weight_decay=weight_decay, **hparams)


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
