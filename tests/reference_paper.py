"""The paper's DiagGGN optimizer and training step, written out from reading its code.

The paper's optimizer (the ICLR 2020 submission's ``bpoptim`` package: a constant-damping
optimizer around a BackPACK curvature estimator and a moving average) is re-implemented
here, independent of ggnbench's optimizer, so that ``ggnbench train --curvature-average
mean`` can be compared with it step for step. Its structure and arithmetic follow the
original: ``step`` takes a closure, zeroes the gradients, runs forward and backward
inside ``backpack(...)``, folds the mini-batch diagonals into a running average that the
first observation initialises (``m <- (1 - a) m + a x``, ``a = min(1 / (t + 1), 0.9)``),
inverts ``m + (damping + weight_decay)`` elementwise and applies
``p += inv * ((-g - weight_decay * p) * lr)``. The inverse is recomputed every step (the
original's refresh interval never applies: its step counter is never advanced).
"""

from __future__ import annotations

import torch
from backpack import backpack, extend
from backpack.extensions import DiagGGNExact, DiagGGNMC

from ggnbench.problems import get_problem, make_loaders


class MovingAverage:
    """The running average of the curvature, one tensor per parameter per group."""

    def __init__(self, alpha: float = 0.9):
        self.alpha = alpha
        self.step_counter = 0
        self.estimate = None

    def step(self, new_obs):
        if self.estimate is None:
            self.estimate = new_obs
        else:
            alpha_t = min([1.0 / (self.step_counter + 1), self.alpha])
            for old_group, new_group in zip(self.estimate, new_obs, strict=True):
                for old, new in zip(old_group, new_group, strict=True):
                    old.mul_(1 - alpha_t).add_(new, alpha=alpha_t)
        self.step_counter += 1
        return self.estimate


class PaperDiagGGN(torch.optim.Optimizer):
    """Constant damping around a diagonal GGN estimate, as the paper's experiments ran it."""

    def __init__(self, params, extension, lr, damping, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "damping": damping, "weight_decay": weight_decay})
        self.extension = extension
        self.average = MovingAverage()
        self.group_dampings = [g["damping"] + g["weight_decay"] for g in self.param_groups]

    def step(self, closure):
        self.zero_grad()
        extension = self.extension()
        with backpack(extension):
            loss, output = closure()
            loss.backward()
            self.average.step(
                [[getattr(p, extension.savefield) for p in g["params"]] for g in self.param_groups]
            )
        inverse = [
            [1 / (curv + damping) for curv in group]
            for group, damping in zip(self.average.estimate, self.group_dampings, strict=True)
        ]
        for group, inv_group in zip(self.param_groups, inverse, strict=True):
            for p, inv in zip(group["params"], inv_group, strict=True):
                p.data.add_(inv * ((-p.grad.data - group["weight_decay"] * p.data) * group["lr"]))
        return loss, output


def paper_trace(
    problem_name: str,
    data_root,
    curvature: str,
    lr: float,
    damping: float,
    weight_decay: float,
    steps: int,
    seed: int = 0,
) -> list[tuple[float, float]]:
    """Train with the paper's optimizer; return (loss, accuracy) of each mini-batch.

    The data come from ggnbench's loaders for the problem (the pipeline is not what is
    compared here); seeding follows the order ``ggnbench train`` documents: seed, loaders,
    network, then one shuffled pass after another.

    Returns:
        ``(loss, accuracy)`` of each mini-batch.
    """
    problem = get_problem(problem_name)
    torch.manual_seed(seed)
    loaders = make_loaders(problem, data_root, download=False)
    model = problem.model_fn()
    loss_fn = extend(problem.loss_fn())
    extension = {"mc": DiagGGNMC, "exact": DiagGGNExact}[curvature]
    optimizer = PaperDiagGGN(
        problem.param_groups(model, weight_decay), extension, lr, damping, weight_decay
    )
    model = extend(model)
    trace: list[tuple[float, float]] = []
    while True:
        for x, y in loaders.train:

            def closure(x=x, y=y):
                output = model(x)
                return loss_fn(output, y), output

            loss, output = optimizer.step(closure)
            accuracy = (output.argmax(dim=1) == y).float().mean().item()
            trace.append((loss.item(), accuracy))
            if len(trace) == steps:
                return trace
