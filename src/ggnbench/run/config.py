"""One run's configuration: :class:`RunConfig`, saved verbatim in ``run.json``, and its check.

:meth:`RunConfig.validate` checks names and numbers before any data is touched; the
study's plan check (:mod:`ggnbench.workflow.plan_check`) runs it on every planned run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ggnbench import defaults
from ggnbench.checks import check_positive
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers import plugins
from ggnbench.optimizers.optim import get_spec
from ggnbench.workload.evaluation import EVAL_PATHS
from ggnbench.workload.loaders import EVALUATIONS
from ggnbench.workload.problems import get_problem
from ggnbench.workload.tensordata import DATA_PATHS

#: Validation holdouts: the problem's fixed permutation, or one drawn with the run's seed.
HOLDOUTS = ("fixed", "per_seed", "none")


@dataclass
class RunConfig:
    """Everything that defines one run; saved verbatim in ``run.json``.

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
        holdout: ``fixed`` validation holdout (the problem's own permutation) or
            ``per_seed`` (drawn with the run's seed, as DeepOBS does).
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
    holdout: str = defaults.HOLDOUT
    evaluation: str = defaults.EVALUATION
    data_path: str = defaults.DATA_PATH
    eval_path: str = defaults.EVAL_PATH
    data_root: str = "data"
    download: bool = True
    threads: int | None = None
    allow_large_curvature: bool = False
    optimizer_class: str | None = None

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
        if self.holdout not in HOLDOUTS:
            raise GGNBenchError(f"unknown holdout {self.holdout!r}; use one of {list(HOLDOUTS)}")
        for name, allowed in (
            ("evaluation", EVALUATIONS),
            ("data_path", DATA_PATHS),
            ("eval_path", EVAL_PATHS),
        ):
            if getattr(self, name) not in allowed:
                raise GGNBenchError(
                    f"unknown {name} {getattr(self, name)!r}; use one of {list(allowed)}"
                )

    def _validate_builtin(self) -> None:
        get_spec(self.kind).check(self.kind, self.hparams)

    def _validate_class(self) -> None:
        cls = plugins.load_class(self.kind)
        plugins.check_hparams(self.kind, cls, ["lr", *self.hparams])

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a plain dictionary.

        Returns:
            Field names to values.
        """
        return asdict(self)
