"""BackPACK's DiagGGN example loop, written out as design.md describes it.

Kept independent of ggnbench on purpose: it builds its own loader, network and
update rule, so that ``ggnbench train`` can be compared against it step for step.
"""

from __future__ import annotations

import torch
from backpack import backpack, extend
from backpack.extensions import DiagGGNMC
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


class ExampleDiagGGN(torch.optim.Optimizer):
    """The example's optimizer: p <- p - lr * grad / (diag_ggn_mc + damping)."""

    def __init__(self, parameters, step_size: float, damping: float):
        super().__init__(parameters, {"step_size": step_size, "damping": damping})

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                step_direction = p.grad / (p.diag_ggn_mc + group["damping"])
                p.data.add_(-group["step_size"] * step_direction)


def example_trace(
    data_root, lr: float, damping: float, zero_grad: bool, steps: int
) -> list[tuple[float, float]]:
    """Run the example's loop; return (loss, accuracy) per iteration.

    The published loop runs within one pass over MNIST and breaks after
    ``batch_idx > 200`` (202 steps); on a smaller data set the same loop carries on
    with the next shuffled pass, as an outer epoch loop would.

    Args:
        data_root: Folder holding MNIST/raw.
        lr: Step size.
        damping: Damping.
        zero_grad: Zero gradients every step (the corrected example) or not (published).
        steps: Iterations to run (the published example: 202).

    Returns:
        ``(loss, accuracy)`` of each iteration's mini-batch.
    """
    torch.manual_seed(0)
    mnist_loader = DataLoader(
        datasets.MNIST(
            str(data_root),
            train=True,
            download=False,
            transform=transforms.Compose(
                [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
            ),
        ),
        batch_size=128,
        shuffle=True,
    )
    model = nn.Sequential(
        nn.Conv2d(1, 20, 5, 1),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(20, 50, 5, 1),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 50, 500),
        nn.ReLU(),
        nn.Linear(500, 10),
    )
    loss_function = nn.CrossEntropyLoss()
    model = extend(model)
    loss_function = extend(loss_function)
    optimizer = ExampleDiagGGN(model.parameters(), step_size=lr, damping=damping)
    trace = []
    while True:
        for x, y in mnist_loader:
            if zero_grad:
                optimizer.zero_grad()
            output = model(x)
            accuracy = (output.argmax(dim=1) == y).float().mean().item()
            with backpack(DiagGGNMC()):
                loss = loss_function(output, y)
                loss.backward()
            optimizer.step()
            trace.append((loss.item(), accuracy))
            if len(trace) == steps:
                return trace
