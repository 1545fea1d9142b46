"""Timed regions as data: each region names its untimed setup and its timed call.

A region is a function of the :class:`Subject` (model, loss, backward context, batch,
device, and for the DiagGGN optimizer regions the optimizer) returning ``(setup,
target)``: ``setup()`` runs before every timed round and returns the arguments of
``target``; ``target(*args)`` is what is timed. CUDA is synchronized inside both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import paper_call
import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from ggnbench.devices import synchronize
from ggnbench.workload.problems import get_problem

Setup = Callable[[], tuple[tuple, dict]]
Target = Callable[..., None]


@dataclass
class Subject:
    """What a timed region runs on.

    Attributes:
        network: Problem name of the network.
        batch_size: Batch size.
        model: The network (extended or hooked as the extension needs).
        loss_fn: Its loss.
        context: Factory of the context ``loss.backward()`` runs in.
        device: Device of the model.
        x_host: Inputs on the host (pinned for CUDA).
        y_host: Labels on the host.
        optimizer: The DiagGGN optimizer of the ``step`` and ``iteration`` regions.
    """

    network: str
    batch_size: int
    model: nn.Module
    loss_fn: nn.Module
    context: Callable[[], contextlib.AbstractContextManager]
    device: torch.device
    x_host: Tensor
    y_host: Tensor
    optimizer: Optimizer | None = None

    def clear(self) -> None:
        """Drop the gradients of the last round."""
        for p in self.model.parameters():
            p.grad = None

    def forward(self) -> Tensor:
        """Move the batch to the device and compute the loss."""
        x = self.x_host.to(self.device, non_blocking=True)
        y = self.y_host.to(self.device, non_blocking=True)
        return self.loss_fn(self.model(x), y)

    def backward(self, loss: Tensor) -> None:
        """``loss.backward()`` inside the extension's context."""
        with self.context():
            loss.backward()

    def fresh(self) -> tuple[tuple, dict]:
        """The setup of regions that time everything from the batch on.

        Returns:
            No arguments.
        """
        self.clear()
        synchronize(self.device)
        return (), {}


def backward(s: Subject) -> tuple[Setup, Target]:
    """Backward only: the forward pass and its graph are built in the setup."""

    def setup() -> tuple[tuple, dict]:
        s.clear()
        loss = s.forward()
        synchronize(s.device)
        return (loss,), {}

    def target(loss: Tensor) -> None:
        s.backward(loss)
        synchronize(s.device)

    return setup, target


def forward_backward(s: Subject) -> tuple[Setup, Target]:
    """Moving the batch to the device, forward and backward."""

    def target() -> None:
        s.backward(s.forward())
        synchronize(s.device)

    return s.fresh, target


def paper_call_region(s: Subject) -> tuple[Setup, Target]:
    """The paper's timed call: the first batch of a freshly shuffled, augmented loader."""
    loader = paper_call.shuffled_loader(get_problem(s.network), s.batch_size)

    def target() -> None:
        x, y = next(iter(loader))
        s.backward(s.loss_fn(s.model(x.to(s.device)), y.to(s.device)))
        synchronize(s.device)

    return s.fresh, target


def step(s: Subject) -> tuple[Setup, Target]:
    """The DiagGGN optimizer's own update; forward and backward run in the setup."""

    def setup() -> tuple[tuple, dict]:
        s.clear()
        s.backward(s.forward())
        synchronize(s.device)
        return (), {}

    def target() -> None:
        s.optimizer.step()
        synchronize(s.device)

    return setup, target


def iteration(s: Subject) -> tuple[Setup, Target]:
    """A whole training iteration: forward, backward and the DiagGGN step."""

    def target() -> None:
        s.backward(s.forward())
        s.optimizer.step()
        synchronize(s.device)

    return s.fresh, target


#: Every timed region, in the order the suite runs them.
REGIONS: dict[str, Callable[[Subject], tuple[Setup, Target]]] = {
    "backward": backward,
    "forward_backward": forward_backward,
    "paper_call": paper_call_region,
    "step": step,
    "iteration": iteration,
}
#: Regions that time the DiagGGN optimizer and need one.
OPTIMIZER_REGIONS = ("step", "iteration")
