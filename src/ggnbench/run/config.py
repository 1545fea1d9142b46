"""One run's configuration: :class:`RunConfig`, saved verbatim in ``run.json``, and its check.

:meth:`RunConfig.validate` checks names and numbers before any data is touched; the
study's plan check (:mod:`ggnbench.workflow.plan_check`) runs it on every planned run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from ggnbench import defaults
from ggnbench.checks import check_option, check_positive
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers import plugins
from ggnbench.optimizers.optim import get_spec
from ggnbench.workload.evaluation import EvalPath
from ggnbench.workload.loaders import Evaluation, Holdout
from ggnbench.workload.problems import get_problem
from ggnbench.workload.tensordata import DataPath

#: The fields that name an option, and the option's enumeration.
OPTIONS: dict[str, type[StrEnum]] = {
    "holdout": Holdout,
    "evaluation": Evaluation,
    "data_path": DataPath,
    "eval_path": EvalPath,
}


@dataclass
class RunConfig:
    """Everything that defines one run; saved verbatim in ``run.json``.

    The fields of :data:`OPTIONS` may be given as strings (the command line, a study's
    configuration, an earlier ``run.json``); the configuration holds their members.

    Attributes:
        problem: Problem name.
        optimizer: Optimizer name: the registry name, or the study's config key.
        lr: Learning rate.
        hparams: The optimizer's other hyperparameters, name to value: those of its
            registry entry (:attr:`~ggnbench.optimizers.optim.OptimizerSpec.hyperparams`;
            ``damping``, ``momentum``, ...), or the constructor arguments besides
            ``params`` and ``lr`` of a class named by import path. One absent takes the
            optimizer's own default.
        allow_large_curvature: Run a curvature whose dense backpropagated matrices exceed
            the limit (KFRA on convolutional networks) instead of refusing it.
        weight_decay: L2 on weights; None takes the problem's default.
        seed: Seed set before loaders and model are built.
        device: ``cpu``, ``cuda`` or ``auto``.
        steps: Number of optimizer steps (exclusive with ``epochs``).
        epochs: Number of passes over the training set.
        batch_size: Training batch size; None takes the problem's default.
        eval_every: Evaluate every this many steps (0: only at the end; ``"epoch"``: once
            per pass over the training set, as DeepOBS does).
        eval_batch_size: Batch size of evaluation passes.
        keep_grad: Never zero gradients (the published example's behaviour).
        holdout: ``fixed`` validation holdout (the problem's own permutation),
            ``per_seed`` (drawn with the run's seed, as DeepOBS does) or ``none`` (see
            :class:`~ggnbench.workload.loaders.Holdout`).
        evaluation: ``ggnbench`` or ``deepobs`` (DeepOBS's evaluation loaders and
            train-eval draws; see :func:`ggnbench.workload.loaders.make_loaders`).
        data_path: ``tensor`` (splits without augmentation held as one tensor on the
            run's device) or ``pil`` (torchvision's per-image path); the same batches
            bitwise (see :mod:`ggnbench.workload.tensordata`).
        eval_path: ``fast`` or ``exact`` (see
            :func:`~ggnbench.workload.evaluation.evaluate`).
        data_root: Data root folder.
        download: Whether missing data may be downloaded.
        threads: torch intra-op threads; None leaves torch's default.
        optimizer_class: What builds the optimizer when ``optimizer`` is not itself a
            registry name: a registry name, or ``package.module:Class`` (any torch
            optimizer; see :mod:`ggnbench.optimizers.plugins`).
    """

    problem: str
    optimizer: str
    lr: float
    hparams: dict[str, Any] = field(default_factory=dict)
    weight_decay: float | None = None
    seed: int = defaults.SEED
    device: str = defaults.DEVICE
    steps: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    eval_every: int | str = defaults.EVAL_EVERY
    eval_batch_size: int = defaults.EVAL_BATCH_SIZE
    keep_grad: bool = False
    # an option's member is immutable, so a default made by a call is shared safely
    holdout: Holdout = Holdout(defaults.HOLDOUT)  # noqa: RUF009
    evaluation: Evaluation = Evaluation(defaults.EVALUATION)  # noqa: RUF009
    data_path: DataPath = DataPath(defaults.DATA_PATH)  # noqa: RUF009
    eval_path: EvalPath = EvalPath(defaults.EVAL_PATH)  # noqa: RUF009
    data_root: str = "data"
    download: bool = True
    threads: int | None = None
    allow_large_curvature: bool = False
    optimizer_class: str | None = None

    def __post_init__(self) -> None:
        """Turn the options given as strings into their members.

        Raises:
            GGNBenchError: If an option names no member.
        """
        self._check_options()

    def _check_options(self) -> None:
        for name, option in OPTIONS.items():
            setattr(self, name, check_option(name, option, getattr(self, name)))

    @property
    def kind(self) -> str:
        """What builds the optimizer: ``optimizer_class``, else the ``optimizer`` name."""
        return self.optimizer_class or self.optimizer

    def validate(self) -> None:
        """Check names and numbers before any data is touched.

        Raises:
            GGNBenchError: On the first invalid field.
        """
        get_problem(self.problem)
        check_positive("lr", self.lr)
        if plugins.is_import_path(self.kind):
            self._validate_class()
        else:
            self._validate_builtin()
        if (self.steps is None) == (self.epochs is None):
            raise GGNBenchError("give exactly one of --steps and --epochs")
        counts = ("steps", "epochs", "batch_size", "eval_batch_size", "threads")
        for name in counts:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise GGNBenchError(f"{name} must be a positive integer, got {value!r}")
        if self.eval_every != "epoch" and (
            not isinstance(self.eval_every, int) or self.eval_every < 0
        ):
            raise GGNBenchError(f"eval_every must be 'epoch' or >= 0, got {self.eval_every!r}")
        self._check_options()  # again: a field may have been set since

    def _validate_builtin(self) -> None:
        get_spec(self.kind).check(self.kind, self.hparams)

    def _validate_class(self) -> None:
        cls = plugins.load_class(self.kind)
        plugins.check_hparams(self.kind, cls, ["lr", *self.hparams])

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a plain dictionary: options by their names, as strings.

        Returns:
            Field names to values.
        """
        fields = asdict(self)
        return {k: v.value if isinstance(v, StrEnum) else v for k, v in fields.items()}
