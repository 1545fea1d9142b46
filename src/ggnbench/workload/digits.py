"""scikit-learn's bundled 8x8 handwritten digits, read as tensors and cached under the data root."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

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
