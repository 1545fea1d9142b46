"""A problem's datasets and loaders: transforms, the validation holdout, the train-eval set.

:func:`make_loaders` builds the loaders of a :class:`~ggnbench.workload.problems.Problem`
from :func:`datasets_for`'s splits, with one of the validation holdouts (:class:`Holdout`),
under one of the evaluation protocols (:class:`Evaluation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, Subset

from ggnbench import defaults
from ggnbench.checks import check_option
from ggnbench.workload import data, tensordata
from ggnbench.workload.problems import Problem
from ggnbench.workload.tensordata import DataPath


class Evaluation(StrEnum):
    """How a run is evaluated: ggnbench's own way, or DeepOBS's (see :func:`make_loaders`)."""

    GGNBENCH = "ggnbench"
    DEEPOBS = "deepobs"


class Holdout(StrEnum):
    """Which examples are held out for validation (see :func:`datasets_for`).

    ``fixed``: the problem's own permutation (seeded with :data:`HOLDOUT_SEED`);
    ``per_seed``: a permutation drawn with the run's seed, as DeepOBS does; ``none``:
    nothing is held out, every training example is trained on.
    """

    FIXED = "fixed"
    PER_SEED = "per_seed"
    NONE = "none"


#: Seed of the fixed permutation that holds the validation set out; part of each
#: problem's definition, independent of the run's seed.
HOLDOUT_SEED = 0


@dataclass
class Loaders:
    """Training, validation, test and train-eval loaders of one problem."""

    train: DataLoader
    valid: DataLoader
    test: DataLoader
    train_eval: DataLoader
    data: dict


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


@dataclass
class Splits:
    """The datasets of one problem.

    Attributes:
        train: Training examples (augmented where the problem augments).
        valid: Validation examples (held out, not augmented).
        test: Test examples.
        train_eval: A fixed subset of the training examples, not augmented (empty when
            ``train_eval_size`` is 0).
        train_pool: The whole training split without augmentation, validation examples
            included: where DeepOBS draws its train-eval examples from.
        data: The record of the data's source and checksums
            (:mod:`ggnbench.workload.source_record`).
    """

    train: Dataset
    valid: Dataset
    test: Dataset
    train_eval: Dataset
    train_pool: Dataset
    data: dict


def datasets_for(
    problem: Problem,
    data_root: str | Path,
    download: bool = True,
    holdout: Holdout | str = defaults.HOLDOUT,
    seed: int = defaults.SEED,
    data_path: DataPath | str = defaults.DATA_PATH,
    device: torch.device | str = "cpu",
) -> Splits:
    """Training, validation, test and train-eval datasets of a problem.

    Args:
        problem: The problem.
        data_root: Data root folder.
        download: Whether missing torchvision data may be downloaded.
        holdout: The validation holdout (:class:`Holdout`); with ``none`` the validation
            set is empty.
        seed: The run's seed, which draws a ``per_seed`` holdout.
        data_path: ``tensor`` (every split without augmentation held as one tensor, see
            :mod:`ggnbench.workload.tensordata`) or ``pil`` (torchvision's per-image transforms).
        device: Where the tensor path holds its tensors.

    Returns:
        The problem's splits.

    Raises:
        GGNBenchError: If the holdout or the data path is unknown.
    """
    data_path = check_option("data path", DataPath, data_path)
    holdout = check_option("holdout", Holdout, holdout)
    # ``none`` holds out nothing of the fixed permutation: every index, sorted
    fraction = 0.0 if holdout is Holdout.NONE else problem.valid_fraction
    permutation_seed = seed if holdout is Holdout.PER_SEED else HOLDOUT_SEED
    record = data.prepare(problem.dataset, data_root, download)

    def load(train: bool, augment: bool) -> Dataset:
        if data_path is DataPath.TENSOR and not (augment and problem.augment):
            return _tensor_split(problem, data_root, train, download, device)
        return data.load_split(
            problem.dataset, data_root, train, _transform(problem, augment), download
        )

    train_aug = load(True, True)
    train_plain = load(True, False) if problem.augment else train_aug
    if problem.holdout == "test":
        test_full = load(False, False)
        test_idx, valid_idx = _holdout_split(len(test_full), fraction, permutation_seed)
        train_eval = _train_eval(problem, _subset(train_plain, list(range(len(train_plain)))))
        valid, test = _subset(test_full, valid_idx), _subset(test_full, test_idx)
        return Splits(train_aug, valid, test, train_eval, train_plain, record)
    train_idx, valid_idx = _holdout_split(len(train_aug), fraction, permutation_seed)
    train_eval = _train_eval(problem, _subset(train_plain, train_idx))
    return Splits(
        _subset(train_aug, train_idx),
        _subset(train_plain, valid_idx),
        load(False, False),
        train_eval,
        train_plain,
        record,
    )


def _tensor_split(
    problem: Problem, data_root: str | Path, train: bool, download: bool, device: torch.device | str
) -> Dataset:
    """A split without augmentation on the tensor path: the same examples, in the same order."""
    split = data.load_split(problem.dataset, data_root, train, None, download)
    if isinstance(split, Subset):  # the bundled digits: a subset of tensors already
        images, labels = split.dataset.tensors
        return Subset(tensordata.TensorImages(images, labels, problem.normalize, device),
                      split.indices)  # fmt: skip
    return tensordata.from_torchvision(split, problem.normalize, device)


def _subset(dataset: Dataset, indices: list[int]) -> Subset:
    """A subset, indexing the underlying dataset directly when ``dataset`` is a subset."""
    if isinstance(dataset, Subset):
        return Subset(dataset.dataset, [dataset.indices[i] for i in indices])
    return Subset(dataset, indices)


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
    holdout: Holdout | str = defaults.HOLDOUT,
    evaluation: Evaluation | str = defaults.EVALUATION,
    seed: int = defaults.SEED,
    data_path: DataPath | str = defaults.DATA_PATH,
    device: torch.device | str = "cpu",
) -> Loaders:
    """Build the loaders of a problem.

    The training loader shuffles with torch's global RNG, exactly as BackPACK's
    example does, so a seed set before this call fixes the batch order; it drops the
    last partial batch where the problem says so (DeepOBS). The evaluation loaders use
    private generators and never touch the global RNG.

    Evaluation follows one of :class:`Evaluation`: ``ggnbench`` evaluates every example
    of the validation and test splits in batches of ``eval_batch_size`` and a train-eval
    subset drawn once from the training examples; ``deepobs`` evaluates as DeepOBS's
    PyTorch data sets (which the paper's runs used) do: every evaluation loader has the
    training batch size and drops its last partial batch (9,984 of 10,000 test images at
    batch 128), and the train-eval set is ``train_eval_size`` examples drawn afresh at
    every evaluation from the whole training split, the validation examples included
    (here from a generator seeded with ``seed``, not from the global RNG).

    Args:
        problem: The problem.
        data_root: Data root folder.
        batch_size: Training batch size; the problem's default if None.
        eval_batch_size: Batch size for validation, test and train-eval passes (``ggnbench``).
        download: Whether missing torchvision data may be downloaded.
        holdout: The validation holdout (see :func:`datasets_for`).
        evaluation: ``ggnbench`` or ``deepobs``.
        seed: The run's seed: of a ``per_seed`` holdout and of the ``deepobs`` train-eval
            draws.
        data_path: ``tensor`` or ``pil`` (see :func:`datasets_for`); both give bitwise the
            same batches in the same order, from the same random draws.
        device: Where the tensor path holds its tensors (and makes its batches).

    Returns:
        The loaders.

    Raises:
        GGNBenchError: If the holdout, the evaluation protocol or the data path is unknown.
    """
    evaluation = check_option("evaluation", Evaluation, evaluation)
    splits = datasets_for(problem, data_root, download, holdout, seed, data_path, device)
    bs = batch_size or problem.batch_size
    deepobs = evaluation is Evaluation.DEEPOBS

    def eval_loader(ds: Dataset, sampler: Sampler | None = None) -> DataLoader:
        return DataLoader(
            ds,
            batch_size=bs if deepobs else eval_batch_size,
            drop_last=deepobs,
            sampler=sampler,
            generator=None if sampler is not None else torch.Generator(),
            collate_fn=tensordata.collate,
        )

    if deepobs and problem.train_eval_size:
        pool = splits.train_pool
        size = min(problem.train_eval_size, len(pool))
        draws = RandomSampler(pool, num_samples=size, generator=torch.Generator().manual_seed(seed))
        train_eval = eval_loader(pool, draws)
    else:
        train_eval = eval_loader(splits.train_eval)
    return Loaders(
        train=DataLoader(
            splits.train,
            batch_size=bs,
            shuffle=True,
            drop_last=problem.drop_last,
            collate_fn=tensordata.collate,
        ),
        valid=eval_loader(splits.valid),
        test=eval_loader(splits.test),
        train_eval=train_eval,
        data=splits.data,
    )
