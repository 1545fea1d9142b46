"""Synthetic MNIST-format data: IDX files that torchvision's MNIST classes read.

For offline smoke tests and timing runs where the real data cannot be downloaded.
Images are noisy class-dependent blobs, so a network can learn them.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an unsigned-byte IDX file (the MNIST format).

    Args:
        path: Destination.
        array: Array of values in [0, 255]; its shape goes into the header.
    """
    header = struct.pack(">HBB", 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(
    root: str | Path,
    folder: str = "MNIST",
    n_train: int = 700,
    n_test: int = 200,
    seed: int = 0,
    signal: int = 180,
    noise: int = 60,
) -> Path:
    """Write a synthetic MNIST-format data set under ``root/folder/raw``.

    Args:
        root: Data root.
        folder: ``MNIST`` or ``FashionMNIST``.
        n_train: Number of training images.
        n_test: Number of test images.
        seed: Seed of the generated data.
        signal: Brightness added to the class's blob.
        noise: Pixels start uniform in ``[0, noise)``; more noise, less signal: harder.

    Returns:
        The data root.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, size=n)
        images = rng.integers(0, noise, size=(n, 28, 28))
        for i, label in enumerate(labels):
            r, c = divmod(int(label), 5)
            images[i, 4 + 10 * r : 12 + 10 * r, 2 + 5 * c : 7 + 5 * c] += signal
        write_idx(raw / f"{prefix}-images-idx3-ubyte", np.clip(images, 0, 255))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root
