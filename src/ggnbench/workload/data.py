"""The dataset registry: how each dataset is read, what its files hold, where it comes from.

Every dataset lives under one data root, in torchvision's layout. Where its files come
from is :mod:`ggnbench.workload.sources` (a system package, a folder, torchvision's download,
bundled data); :func:`prepare` puts them in place and returns the record of their source,
and :func:`load_split` reads a split. Adding a dataset is one :data:`DATASETS` entry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from ggnbench.errors import GGNBenchError
from ggnbench.workload import sources
from ggnbench.workload.dataset_spec import DatasetSpec
from ggnbench.workload.digits import digits_dataset
from ggnbench.workload.idx import IdxContent

#: SHA-256 of Fashion-MNIST's four original files, decompressed (the files Debian's
#: package dataset-fashion-mnist installs, recompressed, and torchvision downloads).
_FMNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}  # fmt: skip

_IDX_FILES = (
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
    "t10k-labels-idx1-ubyte (or their .gz files)"
)


DATASETS: dict[str, DatasetSpec] = {
    d.name: d
    for d in [
        DatasetSpec(
            "mnist", "MNIST", ("folder", "torchvision"), _IDX_FILES,
            IdxContent(examples={"train": 60_000, "t10k": 10_000}),
        ),
        DatasetSpec(
            "fmnist", "FashionMNIST", ("package", "folder", "torchvision"), _IDX_FILES,
            IdxContent(
                examples={"train": 60_000, "t10k": 10_000},
                per_class={"train": 6_000, "t10k": 1_000},
                sha256=_FMNIST_SHA256,
            ),
            package=("dataset-fashion-mnist", "fashion-mnist"),
        ),
        DatasetSpec("cifar10", "CIFAR10", ("folder", "torchvision")),
        DatasetSpec("cifar100", "CIFAR100", ("folder", "torchvision")),
        DatasetSpec("digits", None, ("bundled",)),
    ]
}  # fmt: skip

#: The digits have no test split of their own: this fraction, drawn with a fixed seed, is it.
DIGITS_TEST_FRACTION = 1 / 6
DIGITS_SPLIT_SEED = 0


def get_dataset(name: str) -> DatasetSpec:
    """Look up a dataset.

    Args:
        name: Registry name.

    Returns:
        The dataset.

    Raises:
        GGNBenchError: If the name is unknown.
    """
    if name not in DATASETS:
        raise GGNBenchError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}")
    return DATASETS[name]


def prepare(
    name: str,
    root: str | Path,
    download: bool = True,
    folder: str | Path | None = None,
    strict: bool = False,
    context: str = "train",
) -> dict:
    """Make sure a dataset is in place under the data root (see :func:`sources.ensure`).

    Args:
        name: Dataset name.
        root: Data root.
        download: Whether torchvision may download.
        folder: A folder to take the files from (``ggnbench download --from``).
        strict: Check the content of files in place (sizes, classes, SHA-256), as
            ``ggnbench download`` does; training checks only that they read.
        context: Who reads a missing-data message
            (:data:`ggnbench.workload.missing_hints.CONTEXTS`).

    Returns:
        The record of where the data came from, with the files' SHA-256.
    """
    return sources.ensure(get_dataset(name), root, download, folder, strict, context)


def load_split(
    name: str,
    root: str | Path,
    train: bool,
    transform: Callable | None,
    download: bool = True,
) -> Dataset:
    """Load the train or test split of a dataset.

    Args:
        name: Dataset name.
        root: Data root folder.
        train: Training split if True, test split otherwise.
        transform: Transform applied to each image (torchvision datasets).
        download: Whether to try downloading missing files.

    Returns:
        The dataset: a torchvision dataset, or a subset of the bundled digits.

    Raises:
        GGNBenchError: If the name is unknown.
        MissingData: If the data is missing or damaged (:class:`sources.MissingData`).
    """
    spec = get_dataset(name)
    root = Path(root)
    if spec.torchvision is None:
        full = digits_dataset(root)
        n = len(full)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
        n_test = round(n * DIGITS_TEST_FRACTION)
        picked = perm[n_test:] if train else perm[:n_test]
        return Subset(full, sorted(picked.tolist()))
    from torchvision import datasets

    cls = getattr(datasets, spec.torchvision)
    try:
        return cls(str(root), train=train, transform=transform, download=False)
    except (RuntimeError, OSError, ValueError, EOFError):
        sources.ensure(spec, root, allow_download=download, strict=False)
    try:
        return cls(str(root), train=train, transform=transform, download=False)
    except (RuntimeError, OSError, ValueError, EOFError) as err:
        raise sources.MissingData(spec, root, download, "train") from err


def download(
    name: str, root: str | Path, allow_download: bool = True, folder: str | Path | None = None
) -> dict:
    """Place a dataset under the data root from its sources, with its content checked.

    Args:
        name: Dataset name.
        root: Data root folder.
        allow_download: If False, no torchvision download.
        folder: A folder to take the files from.

    Returns:
        The record of where the data came from.
    """
    return prepare(name, root, allow_download, folder, strict=True, context="download")
