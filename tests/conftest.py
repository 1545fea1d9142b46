"""Shared fixtures: small MNIST-format data sets written as IDX files, devices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ggnbench.workload.synthetic import write_mnist

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


def schema_nodes(node: object, path: str = "") -> list[tuple[str, dict]]:
    """Every mapping of a JSON schema (as loaded from YAML), with its slash-separated path.

    Returns:
        ``(path, node)`` per mapping, in document order, the schema itself first.
    """
    found: list[tuple[str, dict]] = []
    children: list[tuple[str, object]] = []
    if isinstance(node, dict):
        found.append((path, node))
        children = [(str(k), v) for k, v in node.items()]
    elif isinstance(node, list):
        children = [(str(i), v) for i, v in enumerate(node)]
    for key, child in children:
        found += schema_nodes(child, f"{path}/{key}")
    return found


def make_mnist_root(
    root: Path, folder: str = "MNIST", n_train: int = 700, n_test: int = 200, **options
) -> Path:
    """Write a small MNIST-format data set that torchvision's class reads.

    Returns:
        The data root.
    """
    return write_mnist(root, folder=folder, n_train=n_train, n_test=n_test, **options)


def train_trace(out: Path) -> list[tuple[float, float]]:
    """Loss and accuracy of every training step of a run folder, in order.

    Returns:
        ``(loss, accuracy)`` per step.
    """
    import pandas as pd

    metrics = pd.read_csv(out / "metrics.csv")
    train = metrics[metrics.split == "train"]
    return list(zip(train.loss.tolist(), train.accuracy.tolist(), strict=True))


def make_cifar10_root(root: Path, n_per_batch: int = 20, n_test: int = 30) -> Path:
    """Write a small CIFAR-10 in its pickled batch format, read by torchvision's class.

    torchvision checks the published MD5 sums of the batch files; the tests that use
    this data set disable that check (``cifar_without_checksums``).

    Returns:
        The data root.
    """
    import pickle

    import numpy as np

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else n_per_batch
        batch = {
            "data": rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8),
            "labels": rng.integers(0, 10, size=n).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {"label_names": [f"class{i}" for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return root


@pytest.fixture
def cifar_without_checksums(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let torchvision's CIFAR classes read test-written batches (no published MD5)."""
    from torchvision.datasets import cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """A data root with a small MNIST (700 train, 200 test images)."""
    return make_mnist_root(tmp_path / "data")


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Every available device: cpu, and cuda when present."""
    return request.param


HOLD = (
    "import sys, time; from ggnbench.workflow import lock; lock.acquire(sys.argv[1]); "
    "print('held', flush=True); time.sleep(120)"
)


def hold_lock(folder: Path) -> subprocess.Popen:
    """Start a process that takes a results folder's lock and holds it until killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


#: A researcher's optimizers, in a module the tests write outside the repository.
USER_OPTIMIZER = """
import torch
from torch.optim import Optimizer


class SignSGD(Optimizer):
    def __init__(self, params, lr, scale=1.0):
        super().__init__(params, {"lr": lr, "scale": scale})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(torch.sign(p.grad), alpha=-group["lr"] * group["scale"])


class NeedsBeta(SignSGD):
    def __init__(self, params, lr, beta):
        super().__init__(params, lr)


class TakesAnything(SignSGD):
    def __init__(self, params, lr, **options):
        super().__init__(params, lr)


class IgnoresClosure(SignSGD):
    takes_closure = True


class NotAnOptimizer:
    pass


NOT_A_CLASS = 3
"""


@pytest.fixture(autouse=True)
def busy_cores_already_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """No run in a test notes busy cores (a test's stderr is its own); its tests undo this."""
    from ggnbench import devices

    monkeypatch.setattr(devices, "_threads_checked", True)
