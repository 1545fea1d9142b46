"""Optimizers named by import path: the interface they may implement, loading, checks.

A study may put any ``torch.optim.Optimizer`` subclass beside the built-in ones by naming
it ``"package.module:Class"`` (config key ``class``, or ``ggnbench train
--optimizer-class``). The training loop talks to every optimizer through the torch
interface and these optional members, each looked for on the instance:

- ``backpack_extensions()`` (:class:`UsesBackpack`): BackPACK extensions to run during
  ``loss.backward()``; the model and loss are then extended, and the backward pass runs
  inside ``with backpack(*optimizer.backpack_extensions())``, so that ``step()`` finds
  BackPACK's quantities (``p.diag_ggn_mc``, ``p.kfac``, ...) on the parameters.
- ``attach(model, loss_fn)`` and ``backward_context()`` (:class:`OwnsBackward`): an
  optimizer that computes its own quantities during the backward pass registers its
  hooks once and names the context the backward pass runs in.
- ``takes_closure = True`` (:class:`TakesClosure`), or a ``step`` whose ``closure``
  argument has no default (as ``torch.optim.LBFGS``'s): ``step`` is then called with a
  closure that zeroes the gradients, recomputes the mini-batch loss and runs the backward
  pass (inside the context above), and the loop does no backward pass of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from torch import Tensor, nn
from torch.optim import Optimizer

from ggnbench.errors import GGNBenchError

#: ``package.module:Class`` (the class may be nested: ``module:Outer.Inner``).
IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

#: Constructor arguments that ggnbench passes itself.
PASSED_BY_GGNBENCH = ("params", "lr")


@runtime_checkable
class StudyOptimizer(Protocol):
    """What every optimizer in a study has: the torch ``Optimizer`` interface."""

    param_groups: list[dict[str, Any]]
    defaults: dict[str, Any]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients before a backward pass."""

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Update the parameters from their gradients (and whatever else they hold)."""

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state, as torch saves it."""


@runtime_checkable
class UsesBackpack(Protocol):
    """Optional: an optimizer that needs BackPACK's quantities in ``step()``."""

    def backpack_extensions(self) -> Iterable[Any]:
        """The BackPACK extensions to run during ``loss.backward()``."""


@runtime_checkable
class OwnsBackward(Protocol):
    """Optional: an optimizer that hooks into the model and names its backward context."""

    def attach(self, model: nn.Module, loss_fn: nn.Module) -> None:
        """Register hooks on model and loss, once, before the first forward pass."""

    def backward_context(self) -> contextlib.AbstractContextManager:
        """The context ``loss.backward()`` runs in."""


@runtime_checkable
class TakesClosure(Protocol):
    """Optional: an optimizer whose ``step`` re-evaluates the loss through a closure."""

    takes_closure: ClassVar[bool]


def takes_closure(optimizer: Optimizer) -> bool:
    """Whether the training loop must call ``optimizer.step(closure)``.

    Args:
        optimizer: Any torch optimizer.

    Returns:
        True if it sets ``takes_closure = True``, or its ``step`` requires a closure.
    """
    if getattr(optimizer, "takes_closure", False) is True:
        return True
    try:
        closure = inspect.signature(optimizer.step).parameters.get("closure")
    except (TypeError, ValueError):
        return False
    return closure is not None and closure.default is inspect.Parameter.empty


def is_import_path(name: str) -> bool:
    """Whether an optimizer class is named by import path (rather than registry name).

    Args:
        name: Registry name or ``module:Class``.

    Returns:
        True if it contains a colon.
    """
    return ":" in name


def load_class(path: str) -> type[Optimizer]:
    """Import an optimizer class by its import path.

    Args:
        path: ``package.module:Class``.

    Returns:
        The class.

    Raises:
        GGNBenchError: If the path is malformed, the module cannot be imported, it has no
            such class, or the class is not a ``torch.optim.Optimizer``.
    """
    if not IMPORT_PATH.match(path):
        raise GGNBenchError(
            f"optimizer class {path!r} is not an import path; write 'package.module:Class'"
        )
    module_name, _, qualname = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise GGNBenchError(
            f"optimizer class {path!r}: module {err.name!r} is not importable; install its "
            "package or add its folder to PYTHONPATH"
        ) from err
    except Exception as err:  # the user's module failed while importing
        raise GGNBenchError(
            f"optimizer class {path!r}: importing {module_name!r} failed with "
            f"{type(err).__name__}: {err}"
        ) from err
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise GGNBenchError(
                f"optimizer class {path!r}: module {module_name!r} has no {qualname!r}; "
                "check the name after the colon"
            )
    if not (inspect.isclass(found) and issubclass(found, Optimizer)):
        raise GGNBenchError(
            f"optimizer class {path!r} is not a torch.optim.Optimizer subclass "
            f"(it is {type(found).__name__} {found!r}); subclass torch.optim.Optimizer"
        )
    return found


@dataclass(frozen=True)
class Signature:
    """The hyperparameters a constructor takes.

    Attributes:
        accepted: Keyword arguments it takes besides ``params`` (``lr`` included).
        required: Those without a default.
        open: Whether it also takes ``**kwargs``.
    """

    accepted: tuple[str, ...]
    required: tuple[str, ...]
    open: bool


def signature(cls: type[Optimizer]) -> Signature:
    """Read the hyperparameters from a constructor's signature.

    Args:
        cls: An optimizer class.

    Returns:
        What it accepts and requires.
    """
    params = list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, params
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return Signature(
        accepted=tuple(p.name for p in named),
        required=tuple(p.name for p in named if p.default is inspect.Parameter.empty),
        open=any(p.kind is p.VAR_KEYWORD for p in params),
    )


def check_hparams(path: str, cls: type[Optimizer], given: Iterable[str]) -> None:
    """Check hyperparameter names against a constructor before anything runs.

    Args:
        path: The import path, for the message.
        cls: The class.
        given: The hyperparameters the configuration sets (``lr`` included).

    Raises:
        GGNBenchError: On a name the constructor does not take, or a required one missing.
    """
    sig, given = signature(cls), set(given)
    unknown = sorted(given - set(sig.accepted))
    if unknown and not sig.open:
        raise GGNBenchError(
            f"optimizer class {path!r} does not take {', '.join(unknown)}; its constructor "
            f"takes {', '.join(sig.accepted) or 'no hyperparameters'}"
        )
    missing = [name for name in sig.required if name not in given]
    if missing:
        raise GGNBenchError(
            f"optimizer class {path!r} needs {', '.join(missing)}; give "
            f"{'it' if len(missing) == 1 else 'them'} in its config entry (or --hparam)"
        )


def origin(path: str) -> dict[str, Any]:
    """Where an imported optimizer class came from, for ``run.json``.

    Args:
        path: ``package.module:Class`` (already importable).

    Returns:
        The import path, the distribution and version that installed its top-level
        package (None for a module found on PYTHONPATH only), the module's file and the
        SHA-256 of its content.
    """
    module_name = path.partition(":")[0]
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    top = module_name.split(".")[0]
    dists = packages_distributions().get(top, [])
    dist = dists[0] if dists else None
    try:
        dist_version = version(dist) if dist else None
    except PackageNotFoundError:
        dist_version = None
    file = getattr(module, "__file__", None)
    digest = hashlib.sha256(Path(file).read_bytes()).hexdigest() if file else None
    return {
        "class": path,
        "distribution": dist,
        "version": dist_version,
        "module_file": file,
        "module_sha256": digest,
    }
