"""The data side of the paper's timed call: a freshly shuffled, augmented DataLoader.

The paper timed ``next(iter(loader))`` on a DataLoader that shuffles the training set
and augments on the CPU, then the move to the device, forward and backward. This data
set stands in for the training images, which cannot be assumed downloaded: its images
are random, but they go through the problem's own training transform (PIL image in,
tensor out), so the CPU work per batch is the real pipeline's.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ggnbench.workload.loaders import train_transform
from ggnbench.workload.problems import Problem

#: Images in the stand-in training set (CIFAR-10's 50,000; shuffling draws a permutation).
TRAIN_SIZE = 50_000


class RandomImages(Dataset):
    """Random images of a problem's shape, through the problem's training transform."""

    def __init__(self, problem: Problem, size: int = TRAIN_SIZE) -> None:
        """Create the data set.

        Args:
            problem: Its input shape, classes and training transform are used.
            size: Number of images.
        """
        self.problem = problem
        self.size = size
        self.transform = train_transform(problem)

    def __len__(self) -> int:
        """The number of images."""
        return self.size

    def __getitem__(self, index: int):
        """Image ``index`` (the same every time) and a label."""
        rng = np.random.default_rng(index)
        channels, height, width = self.problem.input_shape
        shape = (height, width) if channels == 1 else (height, width, channels)
        image = Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8))
        return self.transform(image), int(rng.integers(self.problem.num_classes))


def shuffled_loader(problem: Problem, batch_size: int) -> DataLoader:
    """A DataLoader that shuffles anew on every ``iter`` and augments on the CPU.

    Args:
        problem: The problem.
        batch_size: Batch size.

    Returns:
        The loader.
    """
    return DataLoader(RandomImages(problem), batch_size=batch_size, shuffle=True)
