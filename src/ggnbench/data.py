"""Datasets: torchvision's classes for downloadable data, scikit-learn's digits offline.

Every dataset lives under one data root. Torchvision datasets are fetched with
``download=True`` where a network is available; where the files are missing and
cannot be fetched, :func:`load_split` raises a one-line error naming the files
and the folder they belong in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import Dataset, TensorDataset

from ggnbench.errors import GGNBenchError

#: torchvision dataset class name per dataset name (torchvision is imported on use:
#: it takes seconds, which runs on the bundled digits need not pay).
TORCHVISION: dict[str, str] = {
    "mnist": "MNIST",
    "fmnist": "FashionMNIST",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
}

#: The files a user can place by hand, and where below the data root they go.
EXPECTED_FILES: dict[str, tuple[str, str]] = {
    "mnist": (
        "MNIST/raw",
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (or the .gz files)",
    ),
    "fmnist": (
        "FashionMNIST/raw",
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (or the .gz files)",
    ),
    "cifar10": (".", "cifar-10-python.tar.gz (or its extracted folder cifar-10-batches-py)"),
    "cifar100": (".", "cifar-100-python.tar.gz (or its extracted folder cifar-100-python)"),
}

DATASET_NAMES: tuple[str, ...] = (*TORCHVISION, "digits")


def missing_message(name: str, root: Path) -> str:
    """The one-line message for a dataset that is absent and cannot be downloaded.

    Args:
        name: Dataset name.
        root: Data root.

    Returns:
        A message naming the files and the folder they belong in.
    """
    sub, files = EXPECTED_FILES[name]
    folder = (root / sub).resolve()
    return (
        f"dataset {name!r} is missing under {root} and could not be downloaded: "
        f"put {files} into {folder} (or rerun with network access)"
    )


def load_split(
    name: str,
    root: str | Path,
    train: bool,
    transform: Callable | None,
    download: bool = True,
) -> Dataset:
    """Load the train or test split of a torchvision dataset.

    Args:
        name: One of :data:`TORCHVISION`.
        root: Data root folder.
        train: Training split if True, test split otherwise.
        transform: Transform applied to each image.
        download: Whether to try downloading missing files.

    Returns:
        The torchvision dataset.

    Raises:
        GGNBenchError: If the name is unknown or the data is missing.
    """
    if name not in TORCHVISION:
        raise GGNBenchError(f"unknown dataset {name!r}; choose one of {sorted(TORCHVISION)}")
    from torchvision import datasets

    root = Path(root)
    cls = getattr(datasets, TORCHVISION[name])
    try:
        return cls(str(root), train=train, transform=transform, download=download)
    except (RuntimeError, OSError, ValueError, EOFError) as err:
        damaged = damaged_files(name, root)
        if damaged:
            path, reason = damaged[0]
            raise GGNBenchError(
                f"dataset {name!r} is damaged: {path} cannot be read ({reason}); delete it "
                "and rerun with network access to fetch it again, or put an intact copy there"
            ) from err
        raise GGNBenchError(missing_message(name, root)) from err


def damaged_files(name: str, root: str | Path) -> list[tuple[Path, str]]:
    """The files of a dataset that are present but cannot be read.

    MNIST-format files are parsed with torchvision's IDX reader; CIFAR batches are
    checked against the MD5 sums torchvision ships for them.

    Args:
        name: One of :data:`TORCHVISION`.
        root: Data root folder.

    Returns:
        (path, reason) pairs; empty when every present file is intact.
    """
    from torchvision import datasets
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor
    from torchvision.datasets.utils import check_integrity

    cls = getattr(datasets, TORCHVISION[name])
    damaged: list[tuple[Path, str]] = []
    if name in ("cifar10", "cifar100"):
        folder = Path(root) / cls.base_folder
        for file_name, md5 in cls.train_list + cls.test_list:
            path = folder / file_name
            if path.exists() and not check_integrity(str(path), md5):
                damaged.append((path, "its MD5 checksum differs from the published one"))
        return damaged
    folder = Path(root) / cls.__name__ / "raw"
    for url, _ in cls.resources:
        path = folder / Path(url).name.removesuffix(".gz")
        if not path.exists():
            continue
        try:
            read_sn3_pascalvincent_tensor(str(path), strict=False)
        except (RuntimeError, ValueError, KeyError, IndexError) as err:
            damaged.append((path, f"not a complete IDX file: {' '.join(str(err).split())}"))
    return damaged


def download(name: str, root: str | Path, allow_download: bool = True) -> None:
    """Fetch both splits of a dataset into the data root, or check they are there.

    Args:
        name: Dataset name (``digits`` ships with scikit-learn and is only loaded).
        root: Data root folder.
        allow_download: If False, only check that the files are in place.

    Raises:
        GGNBenchError: If the dataset is unknown or cannot be fetched.
    """
    if name == "digits":
        load_digits_tensors(root)
        return
    for train in (True, False):
        load_split(name, root, train=train, transform=None, download=allow_download)


DIGITS_CACHE = "digits/digits.pt"


def load_digits_tensors(root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8x8 handwritten digits as tensors.

    The tensors are cached in ``root/digits/digits.pt`` (importing scikit-learn
    takes seconds, which every short run would otherwise pay again).

    Args:
        root: Data root for the cache; no cache if None.

    Returns:
        Images of shape ``(1797, 1, 8, 8)`` scaled to [0, 1], and integer labels.
    """
    cache = Path(root) / DIGITS_CACHE if root is not None else None
    if cache is not None and cache.exists():
        images, labels = torch.load(cache, weights_only=True)
        return images, labels
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.long)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            torch.save((images, labels), tmp)
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only data root only costs the cache
    return images, labels


def digits_dataset(root: str | Path | None = None) -> TensorDataset:
    """The whole digits data set as a tensor dataset.

    Args:
        root: Data root for the cache (see :func:`load_digits_tensors`).

    Returns:
        A dataset of ``(image, label)`` pairs.
    """
    return TensorDataset(*load_digits_tensors(root))
