"""A hyperparameter of an optimizer: its name, kind, range, default and help, declared once.

An optimizer's registry entry (:class:`~ggnbench.optimizers.optim.OptimizerSpec`) lists the
:class:`Hyperparameter` entries it takes, besides the learning rate and the problem's weight
decay, which every optimizer takes. From those entries come ``ggnbench train``'s options and
their help, the checks of a run's values (:meth:`Hyperparameter.check`, once, where a
run's configuration is validated), whether a study may tune one over a grid, and the
configuration reference. The ones several built-in optimizers share are declared here; an
optimizer with a hyperparameter of its own declares it in its own module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ggnbench import defaults
from ggnbench.checks import values
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers.averaging import CurvatureAverage, SharedFactors
from ggnbench.optimizers.curvature import Backend


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of an optimizer.

    Attributes:
        name: Its name in a run's configuration and in a study's optimizer entry (the
            ``ggnbench train`` option is ``--name-with-dashes``).
        help: What it is, for the option's help and the configuration reference.
        kind: ``float``, ``int`` or ``str``.
        choices: The values a ``str`` one takes.
        minimum: The smallest value a number takes (inclusive).
        below: A bound a number stays under (exclusive); None: no upper bound.
        required: A run of an optimizer that takes it must give it.
        grid: A study may tune it over a list of values (else one value per entry).
    """

    name: str
    help: str
    kind: type = float
    choices: tuple[str, ...] | None = None
    minimum: float = 0.0
    below: float | None = None
    required: bool = False
    grid: bool = False

    @property
    def flag(self) -> str:
        """The command-line option."""
        return "--" + self.name.replace("_", "-")

    @property
    def accepts(self) -> str:
        """The values it takes, in words (for help texts and messages)."""
        if self.choices is not None:
            return " | ".join(self.choices)
        kind = "an integer" if self.kind is int else "a finite number"
        upper = "" if self.below is None else f" and < {self.below:g}"
        return f"{kind} >= {self.minimum:g}{upper}"

    def check(self, value: Any) -> None:
        """Refuse a value it cannot take, in one line.

        Args:
            value: The run's value.

        Raises:
            GGNBenchError: On a value of the wrong kind, out of range or not a choice.
        """
        if self.choices is not None:
            ok = value in self.choices
        elif self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= self.minimum
        else:
            ok = (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and value >= self.minimum
                and (self.below is None or value < self.below)
            )
        if not ok:
            raise GGNBenchError(f"{self.name} must be {self.accepts}, got {value!r}")


DAMPING = Hyperparameter("damping", "damping added to the curvature", required=True, grid=True)
MOMENTUM = Hyperparameter("momentum", "heavy-ball momentum (absent: 0)")
CURVATURE_AVERAGE = Hyperparameter(
    "curvature_average",
    "the curvature estimate: the current mini-batch's (none: BackPACK's example, the "
    "default), the mean of all mini-batches so far (mean: the paper's), or a "
    "bias-corrected exponential average (ema)",
    kind=str,
    choices=values(CurvatureAverage),
)
CURVATURE_BETA = Hyperparameter(
    "curvature_beta",
    f"decay of the ema curvature average (absent: {defaults.CURVATURE_BETA})",
    below=1.0,
)
BACKEND = Hyperparameter(
    "backend",
    "what computes the GGN diagonal: BackPACK's extension (backpack, the default; the "
    "published traces are BackPACK's) or ggnbench's own hooks (native)",
    kind=str,
    choices=values(Backend),
)
SHARED_FACTORS_OPTION = Hyperparameter(
    "shared_factors",
    "average a Kronecker factor that BackPACK hands to a weight and its bias (KFRA's "
    "Linear layers) as two copies (separate, the default) or as the one tensor, updated "
    "once per parameter (aliased: the paper's code)",
    kind=str,
    choices=values(SharedFactors),
)
INVERSE_EVERY = Hyperparameter(
    "inverse_every",
    "recompute the inverse factors every this many steps (absent: 1, the paper's)",
    kind=int,
    minimum=1,
    grid=True,
)
