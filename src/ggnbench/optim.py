"""The DiagGGN optimizer and the registry that builds every optimizer by name."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from backpack import backpack, extend
from backpack.extensions import DiagGGNExact, DiagGGNMC
from backpack.extensions.backprop_extension import BackpropExtension
from torch import Tensor, nn
from torch.optim import Optimizer

from ggnbench import plugins
from ggnbench.errors import GGNBenchError
from ggnbench.ggn import NativeDiagGGN

#: BackPACK extension class and the parameter attribute it fills, per curvature kind.
CURVATURES: dict[str, tuple[type[BackpropExtension], str]] = {
    "mc": (DiagGGNMC, "diag_ggn_mc"),
    "exact": (DiagGGNExact, "diag_ggn_exact"),
}


#: How the curvature diagonal entering the update is formed from the mini-batch diagonals.
CURVATURE_AVERAGES = ("none", "mean", "ema")

#: What computes the mini-batch GGN diagonal: BackPACK's extension (the default; the
#: published traces are BackPACK's) or ggnbench's own implementation (:mod:`ggnbench.ggn`).
BACKENDS = ("backpack", "native")


class DiagGGN(Optimizer):
    """Diagonal generalized Gauss-Newton optimizer built on BackPACK.

    The update is ``p <- p - lr * (grad + wd * p) / (m + damping + wd)``, the paper's
    ``theta <- theta - eta (C + (lambda + delta) I)^-1 (g + delta theta)`` with ``m``
    the curvature estimate, ``lambda`` the damping and ``delta`` the weight decay. The
    mini-batch GGN diagonal is read from the parameter attribute (``diag_ggn_mc`` or
    ``diag_ggn_exact``) filled during ``loss.backward()``: by BackPACK's extension
    (``backend="backpack"``: the model and loss extended, the backward run inside
    ``with backpack(*optimizer.backpack_extensions())``) or by :mod:`ggnbench.ggn`
    (``backend="native"``: :meth:`attach` to model and loss once, the backward run inside
    ``with optimizer.backward_context()``). :func:`prepare` and :func:`backward` do either.
    ``curvature_average`` says how ``m`` is formed from the diagonal:

    - ``none``: the current mini-batch's diagonal, as BackPACK's documentation example
      does; with no weight decay the step is the example's own arithmetic,
      ``d = g / (diag + damping)`` then ``p.add_(d, alpha=-lr)`` (the published
      ``p.data.add_(-step_size, d)``).
    - ``mean``: the arithmetic mean of every diagonal seen so far, as the paper's
      experiments did: the first diagonal initialises ``m``, then
      ``m <- (1 - a) m + a x`` with ``a = min(1 / (t + 1), 0.9)`` and ``t`` the number of
      diagonals already averaged; the step is the paper's arithmetic,
      ``p += (1 / (m + (damping + wd))) * ((-g - wd * p) * lr)``.
    - ``ema``: a bias-corrected exponential average, ``m <- beta m + (1 - beta) x`` from
      ``m = 0``, divided by ``1 - beta^t`` (as Adam corrects its moments).

    The average is optimizer state (``state[p]["curvature"]`` and ``["observations"]``)
    and part of :meth:`state_dict`.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        damping: float,
        curvature: str = "mc",
        weight_decay: float = 0.0,
        curvature_average: str = "none",
        curvature_beta: float = 0.95,
        backend: str = "backpack",
    ) -> None:
        """Create the optimizer.

        Args:
            params: Parameters or parameter groups, as for any torch optimizer.
            lr: Step size, > 0.
            damping: Added to the curvature diagonal, >= 0.
            curvature: ``"mc"`` (DiagGGNMC, one Monte-Carlo sample) or ``"exact"``.
            weight_decay: L2 coefficient, >= 0; enters gradient and denominator.
            curvature_average: ``"none"``, ``"mean"`` or ``"ema"`` (see the class).
            curvature_beta: Decay of the ``ema`` average, in [0, 1).
            backend: ``"backpack"`` or ``"native"`` (see the class).

        Raises:
            GGNBenchError: If a hyperparameter is out of range or unknown.
        """
        if curvature not in CURVATURES:
            raise GGNBenchError(f"unknown curvature {curvature!r}; use one of {sorted(CURVATURES)}")
        if backend not in BACKENDS:
            raise GGNBenchError(f"unknown backend {backend!r}; use one of {list(BACKENDS)}")
        if curvature_average not in CURVATURE_AVERAGES:
            raise GGNBenchError(
                f"unknown curvature_average {curvature_average!r}; use one of "
                f"{list(CURVATURE_AVERAGES)}"
            )
        check_positive("lr", lr)
        check_non_negative("damping", damping)
        check_non_negative("weight_decay", weight_decay)
        check_non_negative("curvature_beta", curvature_beta)
        if curvature_beta >= 1:
            raise GGNBenchError(f"curvature_beta must be < 1, got {curvature_beta!r}")
        self.curvature = curvature
        self.backend = backend
        self._native: NativeDiagGGN | None = None
        defaults = {
            "lr": lr,
            "damping": damping,
            "weight_decay": weight_decay,
            "curvature_average": curvature_average,
            "curvature_beta": curvature_beta,
            "backend": backend,
        }
        super().__init__(params, defaults)

    def backpack_extensions(self) -> tuple[BackpropExtension, ...]:
        """The BackPACK extensions that ``backward`` must run for :meth:`step`.

        Returns:
            A fresh instance of the curvature extension; none with the native backend.
        """
        if self.backend == "native":
            return ()
        return (CURVATURES[self.curvature][0](),)

    def attach(self, model: nn.Module, loss_fn: nn.Module) -> None:
        """Register the native backend's hooks on model and loss (no-op for BackPACK).

        Args:
            model: The network whose parameters this optimizer updates.
            loss_fn: Its ``CrossEntropyLoss``.

        Raises:
            GGNBenchError: If the native backend does not support a layer or the loss.
        """
        if self.backend == "native":
            self._native = NativeDiagGGN(self.curvature)
            self._native.attach(model, loss_fn)

    def backward_context(self) -> contextlib.AbstractContextManager:
        """The context to run ``loss.backward()`` in so that :meth:`step` finds the diagonal.

        Returns:
            ``backpack(...)`` with the curvature extension, or the attached native backend.

        Raises:
            GGNBenchError: If the native backend was not attached to a model.
        """
        if self.backend == "backpack":
            return backpack(*self.backpack_extensions())
        if self._native is None:
            raise GGNBenchError(
                "DiagGGN(backend='native') is not attached: call optimizer.attach(model, "
                "loss_fn) (or ggnbench.optim.prepare) before the first forward pass"
            )
        return self._native

    def _average(self, p: Tensor, diag: Tensor, mode: str, beta: float) -> Tensor:
        """Fold one mini-batch diagonal into the parameter's running curvature estimate."""
        state = self.state[p]
        seen = state.get("observations", 0)
        if mode == "mean":
            if seen == 0:
                state["curvature"] = diag.detach().clone()
            else:
                alpha = min(1.0 / (seen + 1), 0.9)
                state["curvature"].mul_(1 - alpha).add_(diag, alpha=alpha)
            state["observations"] = seen + 1
            return state["curvature"]
        if seen == 0:
            state["curvature"] = torch.zeros_like(diag)
        state["curvature"].mul_(beta).add_(diag, alpha=1 - beta)
        state["observations"] = seen + 1
        return state["curvature"] / (1 - beta ** (seen + 1))

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
            lr, wd, mode = group["lr"], group["weight_decay"], group["curvature_average"]
            shift = group["damping"] + wd
            for i, p in enumerate(q for q in group["params"] if q.grad is not None):
                diag = getattr(p, attr, None)
                if diag is None:
                    raise GGNBenchError(
                        f"parameter {i} has no '{attr}': run loss.backward() inside "
                        "`with optimizer.backward_context():` after ggnbench.optim.prepare"
                    )
                if mode == "none":
                    if wd == 0.0:
                        direction = p.grad / (diag + group["damping"])
                    else:
                        direction = (p.grad + wd * p) / (diag + shift)
                    p.add_(direction, alpha=-lr)
                    continue
                estimate = self._average(p, diag, mode, group["curvature_beta"])
                inverse = 1 / (estimate + shift)
                p.add_(inverse * ((-p.grad - wd * p) * lr))
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
        cost: Time of one step relative to SGD's, for scheduling (the workflow starts the
            slowest jobs first); measured on fmnist_2c2d at one thread (README).
    """

    factory: Callable[..., Optimizer]
    hyperparams: tuple[str, ...]
    cost: float = 1.0


def _sgd(params: Any, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> Optimizer:
    check_non_negative("momentum", momentum)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def _adam(params: Any, lr: float, weight_decay: float = 0.0) -> Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _diag_ggn(curvature: str) -> Callable[..., Optimizer]:
    def build(params: Any, lr: float, damping: float, **options: Any) -> Optimizer:
        return DiagGGN(params, lr=lr, damping=damping, curvature=curvature, **options)

    return build


_DIAG_GGN_HPARAMS = ("damping", "weight_decay", "curvature_average", "curvature_beta", "backend")

OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec(_sgd, ("momentum", "weight_decay"), cost=1.0),
    "adam": OptimizerSpec(_adam, ("weight_decay",), cost=1.2),
    "diag_ggn_mc": OptimizerSpec(_diag_ggn("mc"), _DIAG_GGN_HPARAMS, cost=2.4),
    "diag_ggn_exact": OptimizerSpec(_diag_ggn("exact"), _DIAG_GGN_HPARAMS, cost=9.6),
}


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
        if not isinstance(value, str):
            check_non_negative(key, value)
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

    An optimizer declaring BackPACK extensions (:class:`~ggnbench.plugins.UsesBackpack`)
    gets the model and loss extended; one with ``attach(model, loss_fn)``
    (:class:`~ggnbench.plugins.OwnsBackward`; DiagGGN's native backend registers its hooks
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
