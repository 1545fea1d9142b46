"""The tensor data path: a split held as one tensor, batches drawn by index.

torchvision's MNIST-format and CIFAR datasets already hold their images as one uint8
array; their ``__getitem__`` turns one image at a time into a PIL image and back
(``ToTensor``: ``uint8 -> float32``, ``/ 255``; ``Normalize``: ``- mean``, ``/ std``).
:class:`TensorImages` keeps the uint8 array as it is stored (on the run's device) and
converts a whole batch with the same element-wise operations in the same order, so a
batch is bitwise the batch the PIL path gives. It implements ``__getitems__``, which
:class:`~torch.utils.data.DataLoader` (and :class:`~torch.utils.data.Subset`) call with
a batch of indices, so the loaders, their samplers and their random draws stay as they
are: the same shuffling from the same generator, the same batches in the same order.

Augmented training images (CIFAR's DeepOBS augmentation) stay on the PIL path.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate


class DataPath(StrEnum):
    """How batches are made.

    ``tensor``: one uint8 tensor, converted per batch (the default wherever no augmentation
    applies); ``pil``: torchvision's per-image PIL transforms.
    """

    TENSOR = "tensor"
    PIL = "pil"


class Batch(tuple):
    """A whole batch ``(inputs, labels)`` returned by :meth:`TensorImages.__getitems__`."""


class TensorImages(Dataset):
    """Images and labels held as tensors, converted to network inputs a batch at a time.

    Args:
        images: ``[N, C, H, W]`` images: uint8 (scaled by 1/255 on conversion) or float
            (taken as they are).
        labels: ``[N]`` integer labels.
        normalize: Per-channel ``(mean, std)`` applied after scaling, or None.
        device: Where the tensors are held and batches are made.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        normalize: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.images = images.to(device)
        self.labels = labels.to(device=device, dtype=torch.int64)
        self.normalize = normalize
        # A tensor, not the number 255: CUDA divides by a Python number as a multiplication
        # by its reciprocal, which rounds differently from ToTensor's division on the CPU.
        self._scale = torch.tensor(255.0, device=device)
        self._stats = None
        if normalize is not None:
            mean, std = (
                torch.as_tensor(v, dtype=torch.float32, device=device).view(-1, 1, 1)
                for v in normalize
            )
            self._stats = (mean, std)

    def __len__(self) -> int:
        """Number of examples."""
        return len(self.labels)

    def _convert(self, images: torch.Tensor) -> torch.Tensor:
        """Network inputs from stored images: ``ToTensor`` then ``Normalize``, element-wise."""
        if images.dtype == torch.uint8:
            x = images.to(torch.float32).div(self._scale)
        else:
            x = images.clone()
        if self._stats is not None:
            x.sub_(self._stats[0]).div_(self._stats[1])
        return x

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """One example, as the PIL path returns it.

        Args:
            index: Example index.

        Returns:
            ``(image, label)``: a float32 ``[C, H, W]`` tensor and a Python int.
        """
        return self._convert(self.images[index]), int(self.labels[index])

    def __getitems__(self, indices: list[int]) -> Batch:
        """A whole batch at once (what the data loader asks for).

        Args:
            indices: Example indices, in batch order.

        Returns:
            ``(inputs [B, C, H, W], labels [B])``.
        """
        idx = torch.as_tensor(indices, dtype=torch.int64, device=self.images.device)
        return Batch((self._convert(self.images[idx]), self.labels[idx]))


def collate(data: Any) -> Any:
    """The data loaders' collate function: a :class:`Batch` as it is, else torch's default.

    Args:
        data: What the dataset returned for one batch of indices.

    Returns:
        The batch.
    """
    if isinstance(data, Batch):
        return tuple(data)
    return default_collate(data)


def from_torchvision(
    dataset: Any,
    normalize: tuple[tuple[float, ...], tuple[float, ...]] | None,
    device: torch.device | str = "cpu",
) -> TensorImages:
    """The tensor version of a torchvision MNIST-format or CIFAR dataset.

    Args:
        dataset: A torchvision dataset with ``data`` (uint8 ``[N, H, W]`` tensor, or
            ``[N, H, W, C]`` numpy array for CIFAR) and ``targets``.
        normalize: The problem's per-channel ``(mean, std)``, or None.
        device: Where to hold the tensors.

    Returns:
        The same examples, in the same order.

    Raises:
        TypeError: If the dataset holds no uint8 image array.
    """
    images = dataset.data
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise TypeError(f"{type(dataset).__name__} holds no uint8 image array")
    # [N, H, W] is one channel (MNIST's layout); [N, H, W, C] is CIFAR's
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
    return TensorImages(images.contiguous(), labels, normalize, device)
