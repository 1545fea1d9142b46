"""The problem registry: model, loss, data loaders and default batch size per problem."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from ggnbench import data, models
from ggnbench.errors import GGNBenchError

#: Seed of the fixed permutation that holds the validation set out; part of each
#: problem's definition, independent of the run's seed.
HOLDOUT_SEED = 0


@dataclass(frozen=True)
class Problem:
    """A test problem.

    Attributes:
        name: Registry name.
        dataset: Dataset name (see :mod:`ggnbench.data`).
        model_fn: Builds a freshly initialized network (draws from torch's RNG).
        batch_size: Default training batch size.
        input_shape: Shape of one input, without the batch dimension.
        num_classes: Number of classes.
        weight_decay: Default L2 coefficient, applied to weights, not biases.
        holdout: Split the validation set is drawn from, ``"train"`` or ``"test"``.
        valid_fraction: Fraction of that split held out for validation.
        normalize: Per-channel (mean, std), or None for inputs in [0, 1].
        augment: Random crop and flip on training images.
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


_CIFAR10_NORM = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
_CIFAR100_NORM = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))

PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        # BackPACK's DiagGGN example: full training split (as the example trains on
        # it), validation held out from the test split.
        Problem(
            "mnist_cnn", "mnist", models.mnist_cnn, 128, (1, 28, 28), 10,
            holdout="test", valid_fraction=0.5, normalize=((0.1307,), (0.3081,)),
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


@dataclass
class Loaders:
    """Training, validation and test loaders of one problem."""

    train: DataLoader
    valid: DataLoader
    test: DataLoader


def _transform(problem: Problem, train: bool) -> Callable:
    from torchvision import transforms

    steps: list[Callable] = []
    if train and problem.augment:
        steps += [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    steps.append(transforms.ToTensor())
    if problem.normalize is not None:
        steps.append(transforms.Normalize(*problem.normalize))
    return transforms.Compose(steps)


def _holdout_split(n: int, fraction: float) -> tuple[list[int], list[int]]:
    """Indices (kept, held out) of a fixed random permutation of ``range(n)``."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(HOLDOUT_SEED)).tolist()
    n_hold = round(n * fraction)
    return sorted(perm[n_hold:]), sorted(perm[:n_hold])


def datasets_for(
    problem: Problem, data_root: str | Path, download: bool = True
) -> tuple[Dataset, Dataset, Dataset]:
    """Training, validation and test datasets of a problem.

    Args:
        problem: The problem.
        data_root: Data root folder.
        download: Whether missing torchvision data may be downloaded.

    Returns:
        ``(train, valid, test)`` datasets.
    """
    if problem.dataset == "digits":
        full = data.digits_dataset(data_root)
        rest, test_idx = _holdout_split(len(full), problem.valid_fraction)
        train_pos, valid_pos = _holdout_split(len(rest), problem.valid_fraction)
        train_idx = [rest[i] for i in train_pos]
        valid_idx = [rest[i] for i in valid_pos]
        return Subset(full, train_idx), Subset(full, valid_idx), Subset(full, test_idx)

    def load(train: bool, augment: bool) -> Dataset:
        return data.load_split(
            problem.dataset, data_root, train, _transform(problem, augment), download
        )

    if problem.holdout == "test":
        train = load(True, True)
        test_full = load(False, False)
        test_idx, valid_idx = _holdout_split(len(test_full), problem.valid_fraction)
        return train, Subset(test_full, valid_idx), Subset(test_full, test_idx)
    train_aug = load(True, True)
    train_plain = load(True, False) if problem.augment else train_aug
    train_idx, valid_idx = _holdout_split(len(train_aug), problem.valid_fraction)
    return Subset(train_aug, train_idx), Subset(train_plain, valid_idx), load(False, False)


def make_loaders(
    problem: Problem,
    data_root: str | Path,
    batch_size: int | None = None,
    eval_batch_size: int = 1000,
    download: bool = True,
) -> Loaders:
    """Build the loaders of a problem.

    The training loader shuffles with torch's global RNG, exactly as BackPACK's
    example does, so a seed set before this call fixes the batch order. The
    evaluation loaders use a private generator and never touch the global RNG.

    Args:
        problem: The problem.
        data_root: Data root folder.
        batch_size: Training batch size; the problem's default if None.
        eval_batch_size: Batch size for validation and test passes.
        download: Whether missing torchvision data may be downloaded.

    Returns:
        The loaders.
    """
    train, valid, test = datasets_for(problem, data_root, download)
    bs = batch_size or problem.batch_size

    def eval_loader(ds: Dataset) -> DataLoader:
        return DataLoader(ds, batch_size=eval_batch_size, generator=torch.Generator())

    return Loaders(
        train=DataLoader(train, batch_size=bs, shuffle=True),
        valid=eval_loader(valid),
        test=eval_loader(test),
    )
