"""Shared fixtures: small MNIST-format data sets written as IDX files, devices."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ggnbench.synthetic import write_mnist

#: Every device a test runs on: CUDA cases are always collected and skip, with the
#: reason, where torch sees no GPU (they show as skipped, never as missing).
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
        ],
    ),
]


def make_mnist_root(
    root: Path, folder: str = "MNIST", n_train: int = 700, n_test: int = 200
) -> Path:
    """Write a small MNIST-format data set that torchvision's class reads."""
    return write_mnist(root, folder=folder, n_train=n_train, n_test=n_test)


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """A data root with a small MNIST (700 train, 200 test images)."""
    return make_mnist_root(tmp_path / "data")


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Every available device: cpu, and cuda when present."""
    return request.param
