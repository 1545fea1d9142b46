"""Independent autograd / torch.func references for every curvature quantity ggnbench uses.

Each function takes an (unextended) model in eval mode, a cross-entropy loss (mean
reduction unless a function says otherwise), and a small batch; it returns the reference
per parameter name. The tests check BackPACK's and the native backend's results against
these, and the benchmark's correctness gate does so before any timing. They are written
for clarity, not speed: loops over samples and classes, one vector-Jacobian product each.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vjp, vmap


def params_of(model: nn.Module) -> dict[str, Tensor]:
    """Detached copies of the named parameters."""
    return {k: v.detach() for k, v in model.named_parameters()}


def gradient(model: nn.Module, loss_fn: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
    """The mini-batch gradient by ``torch.autograd.grad``."""
    names, tensors = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss_fn(model(x), y), tensors)
    return dict(zip(names, grads, strict=True))


def per_sample_gradients(
    model: nn.Module, loss_fn: nn.Module, x: Tensor, y: Tensor
) -> dict[str, Tensor]:
    """Gradients of each sample's loss divided by N (BackPACK's convention for means)."""
    params = params_of(model)
    n = len(x)

    def loss_one(p: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0)) / n

    return vmap(grad(loss_one), in_dims=(None, 0, 0))(params, x, y)


def sum_grad_squared(model, loss_fn, x, y) -> dict[str, Tensor]:
    """Sum over samples of squared individual gradients."""
    return {k: (g**2).sum(0) for k, g in per_sample_gradients(model, loss_fn, x, y).items()}


def batch_l2(model, loss_fn, x, y) -> dict[str, Tensor]:
    """Squared L2 norm of each individual gradient."""
    return {
        k: (g**2).flatten(1).sum(1) for k, g in per_sample_gradients(model, loss_fn, x, y).items()
    }


def variance(model, loss_fn, x, y) -> dict[str, Tensor]:
    """Variance of the individual gradients (scaled as BackPACK defines it)."""
    n = len(x)
    out = {}
    for k, g in per_sample_gradients(model, loss_fn, x, y).items():
        total = g.sum(0)
        out[k] = (g**2).sum(0) / n - (total / n) ** 2
    return out


def ggn_diagonal(model: nn.Module, loss_fn: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
    """diag(J^T H J) for cross-entropy (mean or sum reduction) by vector-Jacobian products.

    With p the softmax output, H_n = (diag p - p p^T) / N = S S^T for
    S = (diag sqrt(p) - p sqrt(p)^T) / sqrt(N) (no 1/N under sum reduction); the diagonal
    is the sum of squared ``J_n^T s`` over the columns ``s`` of S and over samples.

    Returns:
        The diagonal per parameter name.
    """
    params = params_of(model)
    n = len(x) if loss_fn.reduction == "mean" else 1
    out = {k: torch.zeros_like(v) for k, v in params.items()}
    for i in range(len(x)):

        def logits(p: dict[str, Tensor], i: int = i) -> Tensor:
            return functional_call(model, p, (x[i : i + 1],))[0]

        value, pullback = vjp(logits, params)
        prob = value.softmax(0)
        root = prob.sqrt()
        factor = (torch.diag(root) - prob.unsqueeze(1) * root.unsqueeze(0)) / n**0.5
        for k in range(len(prob)):
            (cotangent,) = pullback(factor[:, k])
            for name in out:
                out[name] += cotangent[name] ** 2
    return out


def hessian_diagonal_entries(
    model: nn.Module, loss_fn: nn.Module, x: Tensor, y: Tensor, count: int, seed: int = 0
) -> dict[str, tuple[Tensor, Tensor]]:
    """A few diagonal entries of the loss Hessian per parameter, by Hessian-vector products.

    Args:
        model: Network.
        loss_fn: Loss.
        x: Inputs.
        y: Targets.
        count: Entries per parameter tensor.
        seed: Seed of the choice of entries.

    Returns:
        Per parameter name: (flat indices, Hessian diagonal at those indices).
    """
    generator = torch.Generator().manual_seed(seed)
    names, tensors = zip(*model.named_parameters(), strict=True)
    loss = loss_fn(model(x), y)
    grads = torch.autograd.grad(loss, tensors, create_graph=True)
    out = {}
    for name, p, g in zip(names, tensors, grads, strict=True):
        idx = torch.randperm(p.numel(), generator=generator)[:count]
        values = []
        for j in idx.tolist():
            (row,) = torch.autograd.grad(g.flatten()[j], p, retain_graph=True)
            values.append(row.flatten()[j])
        out[name] = (idx, torch.stack(values))
    return out
