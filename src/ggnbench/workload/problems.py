"""The problem registry: model, loss, data and default batch size per problem.

A problem's datasets and loaders are built by :mod:`ggnbench.workload.loaders`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ggnbench.errors import GGNBenchError
from ggnbench.workload import models


@dataclass(frozen=True)
class Problem:
    """A test problem.

    Attributes:
        name: Registry name.
        dataset: Dataset name (see :mod:`ggnbench.workload.data`).
        model_fn: Builds a freshly initialized network (draws from torch's RNG).
        batch_size: Default training batch size.
        input_shape: Shape of one input, without the batch dimension.
        num_classes: Number of classes.
        weight_decay: Default L2 coefficient, applied to weights, not biases.
        holdout: Split the validation set is drawn from, ``"train"`` or ``"test"``.
        valid_fraction: Fraction of that split held out for validation.
        normalize: Per-channel (mean, std), or None for inputs in [0, 1].
        augment: DeepOBS's CIFAR augmentation on training images (pad 2, random 32x32
            crop, horizontal flip, colour jitter).
        drop_last: Drop the last partial training batch of each pass, as DeepOBS does.
        train_eval_size: Size of the fixed subset of training examples evaluated in eval
            mode (DeepOBS's train-eval set, the paper's "train" curves); 0 for none.
    """

    name: str
    dataset: str
    model_fn: Callable[[], nn.Module]
    batch_size: int
    input_shape: tuple[int, ...]
    num_classes: int
    weight_decay: float = 0.0
    holdout: str = "train"
    valid_fraction: float = 1 / 6
    normalize: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    augment: bool = False
    drop_last: bool = True
    train_eval_size: int = 10_000

    def loss_fn(self) -> nn.Module:
        """The loss: mean cross-entropy over the batch.

        Returns:
            A new ``CrossEntropyLoss``.
        """
        return nn.CrossEntropyLoss()

    def param_groups(self, model: nn.Module, weight_decay: float) -> list[dict]:
        """Split parameters into weights (with weight decay) and biases (without).

        Args:
            model: The network.
            weight_decay: L2 coefficient for the weights.

        Returns:
            Parameter groups for a torch optimizer.
        """
        params = list(model.parameters())
        weights = [p for p in params if p.dim() > 1]
        biases = [p for p in params if p.dim() <= 1]
        return [
            {"params": weights, "weight_decay": weight_decay},
            {"params": biases, "weight_decay": 0.0},
        ]


# DeepOBS's normalization constants (its PyTorch CIFAR data sets).
_CIFAR10_NORM = ((0.49139968, 0.48215841, 0.44653091), (0.24703223, 0.24348513, 0.26158784))
_CIFAR100_NORM = ((0.50707516, 0.48654887, 0.44091784), (0.26733429, 0.25643846, 0.27615047))

PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        # BackPACK's DiagGGN example: full training split (as the example trains on
        # it, keeping the last partial batch), validation held out from the test split.
        Problem(
            "mnist_cnn", "mnist", models.mnist_cnn, 128, (1, 28, 28), 10,
            holdout="test", valid_fraction=0.5, normalize=((0.1307,), (0.3081,)),
            drop_last=False,
        ),
        Problem("mnist_logreg", "mnist", models.logreg, 128, (1, 28, 28), 10),
        Problem("fmnist_2c2d", "fmnist", models.net_2c2d, 128, (1, 28, 28), 10),
        Problem(
            "cifar10_3c3d", "cifar10", models.net_3c3d, 128, (3, 32, 32), 10,
            weight_decay=0.002, valid_fraction=0.2, normalize=_CIFAR10_NORM, augment=True,
        ),
        Problem(
            "cifar100_allcnnc", "cifar100", models.allcnnc, 256, (3, 32, 32), 100,
            weight_decay=0.0005, valid_fraction=0.2, normalize=_CIFAR100_NORM, augment=True,
        ),
        Problem("digits_cnn", "digits", models.digits_cnn, 64, (1, 8, 8), 10),
    ]
}  # fmt: skip


def get_problem(name: str) -> Problem:
    """Look up a problem.

    Args:
        name: Registry name.

    Returns:
        The problem.

    Raises:
        GGNBenchError: If the name is unknown.
    """
    if name not in PROBLEMS:
        raise GGNBenchError(f"unknown problem {name!r}; choose one of {sorted(PROBLEMS)}")
    return PROBLEMS[name]
