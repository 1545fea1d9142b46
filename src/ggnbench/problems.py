"""The problem registry: model, loss, data loaders and default batch size per problem."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from ggnbench import data, defaults, models
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


@dataclass
class Loaders:
    """Training, validation, test and train-eval loaders of one problem."""

    train: DataLoader
    valid: DataLoader
    test: DataLoader
    train_eval: DataLoader


def train_transform(problem: Problem) -> Callable:
    """The transform a problem applies to its training images (with augmentation).

    Args:
        problem: The problem.

    Returns:
        A torchvision transform from a PIL image to a tensor.
    """
    return _transform(problem, train=True)


def _transform(problem: Problem, train: bool) -> Callable:
    from torchvision import transforms

    steps: list[Callable] = []
    if train and problem.augment:
        steps += [
            transforms.Pad(padding=2),
            transforms.RandomCrop(size=(32, 32)),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(brightness=63.0 / 255.0, saturation=(0.5, 1.5),
                                   contrast=(0.2, 1.8)),
        ]  # fmt: skip
    steps.append(transforms.ToTensor())
    if problem.normalize is not None:
        steps.append(transforms.Normalize(*problem.normalize))
    return transforms.Compose(steps)


def _holdout_split(
    n: int, fraction: float, seed: int = HOLDOUT_SEED
) -> tuple[list[int], list[int]]:
    """Indices (kept, held out) of a seeded random permutation of ``range(n)``."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_hold = round(n * fraction)
    return sorted(perm[n_hold:]), sorted(perm[:n_hold])


def datasets_for(
    problem: Problem, data_root: str | Path, download: bool = True, holdout_seed: int | None = None
) -> tuple[Dataset, Dataset, Dataset, Dataset]:
    """Training, validation, test and train-eval datasets of a problem.

    Args:
        problem: The problem.
        data_root: Data root folder.
        download: Whether missing torchvision data may be downloaded.
        holdout_seed: Seed of the validation holdout; None takes the problem's fixed one.

    Returns:
        ``(train, valid, test, train_eval)`` datasets. ``train_eval`` is a fixed subset of
        the training examples without augmentation (empty when ``train_eval_size`` is 0).
    """
    seed = HOLDOUT_SEED if holdout_seed is None else holdout_seed
    if problem.dataset == "digits":
        full = data.digits_dataset(data_root)
        rest, test_idx = _holdout_split(len(full), problem.valid_fraction)
        train_pos, valid_pos = _holdout_split(len(rest), problem.valid_fraction, seed)
        train_idx = [rest[i] for i in train_pos]
        valid_idx = [rest[i] for i in valid_pos]
        train = Subset(full, train_idx)
        return train, Subset(full, valid_idx), Subset(full, test_idx), _train_eval(problem, train)

    def load(train: bool, augment: bool) -> Dataset:
        return data.load_split(
            problem.dataset, data_root, train, _transform(problem, augment), download
        )

    if problem.holdout == "test":
        train = load(True, True)
        plain = load(True, False) if problem.augment else train
        test_full = load(False, False)
        test_idx, valid_idx = _holdout_split(len(test_full), problem.valid_fraction, seed)
        train_eval = _train_eval(problem, Subset(plain, range(len(plain))))
        return train, Subset(test_full, valid_idx), Subset(test_full, test_idx), train_eval
    train_aug = load(True, True)
    train_plain = load(True, False) if problem.augment else train_aug
    train_idx, valid_idx = _holdout_split(len(train_aug), problem.valid_fraction, seed)
    train_eval = _train_eval(problem, Subset(train_plain, train_idx))
    return (
        Subset(train_aug, train_idx),
        Subset(train_plain, valid_idx),
        load(False, False),
        train_eval,
    )


def _train_eval(problem: Problem, train: Subset) -> Dataset:
    """A fixed subset of the (unaugmented) training examples, independent of the run seed."""
    size = min(problem.train_eval_size, len(train))
    gen = torch.Generator().manual_seed(HOLDOUT_SEED)
    picked = sorted(torch.randperm(len(train), generator=gen)[:size].tolist())
    return Subset(train.dataset, [train.indices[i] for i in picked])


def make_loaders(
    problem: Problem,
    data_root: str | Path,
    batch_size: int | None = None,
    eval_batch_size: int = defaults.EVAL_BATCH_SIZE,
    download: bool = True,
    holdout_seed: int | None = None,
) -> Loaders:
    """Build the loaders of a problem.

    The training loader shuffles with torch's global RNG, exactly as BackPACK's
    example does, so a seed set before this call fixes the batch order; it drops the
    last partial batch where the problem says so (DeepOBS). The evaluation loaders use
    a private generator and never touch the global RNG.

    Args:
        problem: The problem.
        data_root: Data root folder.
        batch_size: Training batch size; the problem's default if None.
        eval_batch_size: Batch size for validation, test and train-eval passes.
        download: Whether missing torchvision data may be downloaded.
        holdout_seed: Seed of the validation holdout; None takes the problem's fixed one.

    Returns:
        The loaders.
    """
    train, valid, test, train_eval = datasets_for(problem, data_root, download, holdout_seed)
    bs = batch_size or problem.batch_size

    def eval_loader(ds: Dataset) -> DataLoader:
        return DataLoader(ds, batch_size=eval_batch_size, generator=torch.Generator())

    return Loaders(
        train=DataLoader(train, batch_size=bs, shuffle=True, drop_last=problem.drop_last),
        valid=eval_loader(valid),
        test=eval_loader(test),
        train_eval=eval_loader(train_eval),
    )
