"""BackPACK's DiagGGN example, the code itself: the reference of the trace tests.

Two versions of BackPACK's documentation example "Diagonal Gauss-Newton Second order
optimizer" (``docs_src/examples/use_cases/example_diag_ggn_optimizer.py`` in
f-dangel/backpack), each kept as its script reads, statement for statement, inside a
function that returns the logged losses and accuracies:

- :func:`published`: the version whose output the documentation printed (``STEP_SIZE =
  0.01``, no ``zero_grad``, ``p.data.add_(-group["step_size"], step_direction)``);
- :func:`upstream`: the current one (``STEP_SIZE = 0.05``, ``optimizer.zero_grad()`` and
  ``model.zero_grad()`` every step, ``p.data.add_(step_direction, alpha=-step_size)``).

What differs from the scripts, and why: ``DEVICE`` is the CPU (the bitwise claim is a CPU
claim); the loader comes from ``backpack.utils.examples.get_mnist_dataloader`` (the
published script imported it under its old spelling ``get_mnist_dataloder``), which reads
``./data`` of the working directory, so the caller runs it inside the data folder's parent;
the figure at the end is not drawn. Indentation aside, every
other line is the script's. ggnbench's own code is not used here.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from backpack import backpack, extend
from backpack.extensions import DiagGGNMC
from backpack.utils.examples import get_mnist_dataloader


@contextmanager
def _inside(folder: Path):
    """Run in ``folder`` (the example reads ``./data``)."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def published(folder: Path) -> tuple[list[float], list[float]]:
    """The example as published (its printed output: iteration 0 loss 2.315 acc 0.102).

    Args:
        folder: Holds ``data/MNIST/raw``.

    Returns:
        ``(losses, accuracies)`` of the 202 iterations.
    """
    with _inside(folder), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # add_(Number, Tensor) is deprecated, not removed
        BATCH_SIZE = 128
        STEP_SIZE = 0.01
        DAMPING = 1.0
        MAX_ITER = 200
        PRINT_EVERY = 50
        DEVICE = torch.device("cpu")
        torch.manual_seed(0)

        mnist_loader = get_mnist_dataloader(batch_size=BATCH_SIZE)

        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 20, 5, 1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2, 2),
            torch.nn.Conv2d(20, 50, 5, 1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2, 2),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * 4 * 50, 500),
            torch.nn.ReLU(),
            torch.nn.Linear(500, 10),
        ).to(DEVICE)

        loss_function = torch.nn.CrossEntropyLoss().to(DEVICE)

        def get_accuracy(output, targets):
            """Helper function to print the accuracy"""
            predictions = output.argmax(dim=1, keepdim=True).view_as(targets)
            return predictions.eq(targets).float().mean().item()

        class DiagGGNOptimizer(torch.optim.Optimizer):
            def __init__(self, parameters, step_size, damping):
                super().__init__(parameters, dict(step_size=step_size, damping=damping))

            def step(self):
                for group in self.param_groups:
                    for p in group["params"]:
                        step_direction = p.grad / (p.diag_ggn_mc + group["damping"])
                        p.data.add_(-group["step_size"], step_direction)

        extend(model)
        extend(loss_function)
        optimizer = DiagGGNOptimizer(model.parameters(), step_size=STEP_SIZE, damping=DAMPING)

        losses = []
        accuracies = []
        for batch_idx, (x, y) in enumerate(mnist_loader):
            x, y = x.to(DEVICE), y.to(DEVICE)
            outputs = model(x)
            loss = loss_function(outputs, y)

            with backpack(DiagGGNMC()):
                loss.backward()

            optimizer.step()

            # Logging
            losses.append(loss.detach().item())
            accuracies.append(get_accuracy(outputs, y))

            if (batch_idx % PRINT_EVERY) == 0:
                print(
                    "Iteration %3.d/%3.d " % (batch_idx, MAX_ITER)
                    + "Minibatch Loss %.3f  " % losses[-1]
                    + "Accuracy %.3f" % accuracies[-1]
                )

            if MAX_ITER is not None and batch_idx > MAX_ITER:
                break
    return losses, accuracies


def upstream(folder: Path) -> tuple[list[float], list[float]]:
    """The example as upstream has it now (gradients zeroed, step size 0.05).

    Args:
        folder: Holds ``data/MNIST/raw``.

    Returns:
        ``(losses, accuracies)`` of the 202 iterations.
    """
    with _inside(folder):
        BATCH_SIZE = 128
        STEP_SIZE = 0.05
        DAMPING = 1.0
        MAX_ITER = 200
        PRINT_EVERY = 50
        DEVICE = torch.device("cpu")
        torch.manual_seed(0)

        mnist_loader = get_mnist_dataloader(batch_size=BATCH_SIZE)

        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 20, 5, 1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2, 2),
            torch.nn.Conv2d(20, 50, 5, 1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2, 2),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * 4 * 50, 500),
            torch.nn.ReLU(),
            torch.nn.Linear(500, 10),
        ).to(DEVICE)

        loss_function = torch.nn.CrossEntropyLoss().to(DEVICE)

        def get_accuracy(output, targets):
            """Helper function to print the accuracy"""
            predictions = output.argmax(dim=1, keepdim=True).view_as(targets)
            return predictions.eq(targets).float().mean().item()

        class DiagGGNOptimizer(torch.optim.Optimizer):
            def __init__(self, parameters, step_size, damping):
                super().__init__(parameters, dict(step_size=step_size, damping=damping))

            def step(self):
                for group in self.param_groups:
                    for p in group["params"]:
                        step_direction = p.grad / (p.diag_ggn_mc + group["damping"])
                        p.data.add_(step_direction, alpha=-group["step_size"])

        extend(model)
        extend(loss_function)
        optimizer = DiagGGNOptimizer(model.parameters(), step_size=STEP_SIZE, damping=DAMPING)

        losses = []
        accuracies = []
        for batch_idx, (x, y) in enumerate(mnist_loader):
            optimizer.zero_grad()

            x, y = x.to(DEVICE), y.to(DEVICE)

            model.zero_grad()

            outputs = model(x)
            loss = loss_function(outputs, y)

            with backpack(DiagGGNMC()):
                loss.backward()

            optimizer.step()

            # Logging
            losses.append(loss.detach().item())
            accuracies.append(get_accuracy(outputs, y))

            if (batch_idx % PRINT_EVERY) == 0:
                print(
                    "Iteration %3.d/%3.d " % (batch_idx, MAX_ITER)
                    + "Minibatch Loss %.3f  " % losses[-1]
                    + "Accuracy %.3f" % accuracies[-1]
                )

            if MAX_ITER is not None and batch_idx > MAX_ITER:
                break
    return losses, accuracies
