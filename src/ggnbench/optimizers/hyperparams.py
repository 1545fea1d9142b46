"""The built-in optimizers' hyperparameters besides the learning rate: one entry each.

An optimizer of the registry (:data:`ggnbench.optimizers.optim.OPTIMIZERS`) names the entries it
takes. From this table come ``ggnbench train``'s options and their help, the checks of a
run's values (:meth:`Hyperparameter.check`, where a run's configuration is validated) and
the list of :class:`~ggnbench.run.train.RunConfig`'s hyperparameter fields. Adding a
hyperparameter to a curvature optimizer is one entry here, its name in the optimizer's
``hyperparams``, a field of ``RunConfig`` and the schema's ``curvature_entry`` key (the
tests hold the three to this table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ggnbench import defaults
from ggnbench.checks import check_non_negative, check_positive_int
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers.curvature import BACKENDS, CURVATURE_AVERAGES, SHARED_FACTORS


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of some built-in optimizers.

    Attributes:
        name: Its name in a run's configuration and the study config (the option is
            ``--name-with-dashes``).
        help: What it is, for the option's help (the optimizers that take it are added).
        kind: ``float``, ``int`` or ``str``.
        choices: The values a ``str`` one takes.
        non_negative: A number that must be 0 or more (``int``: 1 or more).
    """

    name: str
    help: str
    kind: type = float
    choices: tuple[str, ...] | None = None
    non_negative: bool = True

    @property
    def flag(self) -> str:
        """The command-line option."""
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> None:
        """Refuse a value it cannot take, in one line (None: not given, always fine).

        Args:
            value: The run's value.

        Raises:
            GGNBenchError: On a value of the wrong kind, out of range or not a choice.
        """
        if value is None:
            return
        if self.choices is not None:
            if value not in self.choices:
                raise GGNBenchError(
                    f"unknown {self.name} {value!r}; use one of {list(self.choices)}"
                )
        elif self.kind is int:
            check_positive_int(self.name, value)
        elif self.non_negative:
            check_non_negative(self.name, value)


#: Every hyperparameter, in the order of ``ggnbench train``'s options.
HYPERPARAMETERS: dict[str, Hyperparameter] = {
    h.name: h
    for h in (
        Hyperparameter("damping", "damping of the curvature (>= 0)"),
        Hyperparameter("momentum", "momentum (>= 0; default 0)"),
        Hyperparameter(
            "curvature_average",
            "the curvature estimate: the current mini-batch's (none: the example's rule, the "
            "default), the mean of all mini-batches so far (mean: the paper's), or a "
            "bias-corrected exponential average (ema)",
            kind=str,
            choices=CURVATURE_AVERAGES,
        ),
        Hyperparameter(
            "curvature_beta", f"decay of the ema curvature average ({defaults.CURVATURE_BETA})"
        ),
        Hyperparameter(
            "backend",
            "what computes the GGN diagonal: BackPACK's extension (backpack, the default) or "
            "ggnbench's own hooks (native)",
            kind=str,
            choices=BACKENDS,
        ),
        Hyperparameter(
            "shared_factors",
            "average a Kronecker factor that BackPACK hands to a weight and its bias (KFRA's "
            "Linear layers) as two copies (separate, the default) or as the one tensor, "
            "updated once per parameter (aliased: the paper's code)",
            kind=str,
            choices=SHARED_FACTORS,
        ),
        Hyperparameter(
            "inverse_every",
            "recompute the inverse factors every K steps (1, as the paper)",
            kind=int,
        ),
        Hyperparameter("weight_decay", "L2 on weights (>= 0); default: the problem's own"),
    )
}


def get(name: str) -> Hyperparameter:
    """Look up a hyperparameter.

    Args:
        name: Its name.

    Returns:
        The entry.

    Raises:
        GGNBenchError: If there is none of that name.
    """
    if name not in HYPERPARAMETERS:
        raise GGNBenchError(
            f"unknown hyperparameter {name!r}; the built-in ones are {list(HYPERPARAMETERS)}"
        )
    return HYPERPARAMETERS[name]
