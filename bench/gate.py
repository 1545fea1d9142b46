"""The correctness gate: a BackPACK quantity is timed only after it matched its reference.

Checks run in float64 on a few random samples with the network in eval mode (the
mode it is timed in). Networks with average pooling are checked in float32 with
looser tolerances: BackPACK's AvgPool2d derivative builds float32 kernels and fails
on float64 inputs. A layer BackPACK does not support for an extension skips the
combination with BackPACK's reason.
"""

from __future__ import annotations

import copy
import functools

import pytest
import torch
from cases import EXTENSIONS, MC_TOLERANCE
from torch import nn

from ggnbench.optimizers import references as ref
from ggnbench.workload.problems import get_problem

GATE_SEED = 0
HESSIAN_ENTRIES = 8


def _dtype(network: str) -> torch.dtype:
    has_avgpool = any(
        isinstance(m, nn.AvgPool2d) for m in get_problem(network).model_fn().modules()
    )
    return torch.float32 if has_avgpool else torch.float64


def _close(ours: torch.Tensor, reference: torch.Tensor) -> None:
    if reference.dtype == torch.float64:
        torch.testing.assert_close(ours, reference, rtol=1e-6, atol=1e-10)
    else:
        scale = float(reference.abs().max()) or 1.0
        torch.testing.assert_close(ours, reference, rtol=1e-3, atol=1e-4 * scale)


def _rel_error(ours: dict, reference: dict) -> float:
    num = sum(((ours[k] - reference[k]) ** 2).sum() for k in reference)
    den = sum((reference[k] ** 2).sum() for k in reference)
    return float((num / den).sqrt())


@functools.cache
def _inputs(network: str, n: int, device: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    problem = get_problem(network)
    torch.manual_seed(GATE_SEED)
    dtype = _dtype(network)
    model = problem.model_fn().to(device=device, dtype=dtype).eval()
    x = torch.randn(n, *problem.input_shape, device=device, dtype=dtype)
    y = torch.randint(0, problem.num_classes, (n,), device=device)
    return model, x, y


@functools.cache
def _reference(network: str, name: str, n: int, device: str) -> dict:
    model, x, y = _inputs(network, n, device)
    return EXTENSIONS[name].reference(model, nn.CrossEntropyLoss(), x, y)


def _backpack_result(network: str, name: str, n: int, device: str) -> dict:
    model, x, y = _inputs(network, n, device)
    spec = EXTENSIONS[name]
    copy_, loss_fn, context = spec.prepare(copy.deepcopy(model), nn.CrossEntropyLoss(), gate=True)
    torch.manual_seed(GATE_SEED)
    loss = loss_fn(copy_(x), y)
    try:
        with context():
            loss.backward()
    except NotImplementedError as err:
        pytest.skip(f"BackPACK does not support {name} on {network}: {err}")
    return {k: getattr(p, spec.attr) for k, p in copy_.named_parameters()}, copy_


def _kron_diagonals(model: nn.Module, ours_model: nn.Module, attr: str) -> tuple[dict, dict]:
    """Diagonal of the Kronecker product of each linear layer's factors, by parameter name."""
    diag, names = {}, {}
    for mod_name, module in ours_model.named_modules():
        if isinstance(module, nn.Linear):
            factors = getattr(module.weight, attr)
            diag[f"{mod_name}.weight"] = torch.outer(factors[0].diagonal(), factors[1].diagonal())
            diag[f"{mod_name}.bias"] = getattr(module.bias, attr)[0].diagonal()
            names[mod_name] = module
    return diag, names


@functools.cache
def check(network: str, name: str, device: str) -> None:
    """Compare one extension on one network with its autograd reference.

    Args:
        network: Problem name whose network is checked.
        name: Extension name (see ``cases.EXTENSIONS``).
        device: ``cpu`` or ``cuda``.

    Raises:
        AssertionError: If BackPACK's result differs from the reference.
        pytest.skip.Exception: If BackPACK does not support a layer, or no reference exists.
        ValueError: If the extension's kind has no check (``cases.py`` defines the kinds).
    """
    spec = EXTENSIONS[name]
    if spec.kind in ("exact", "mc"):
        ours, _ = _backpack_result(network, name, 3, device)
        reference = _reference(network, name, 3, device)
        if spec.kind == "exact":
            for key in reference:
                _close(ours[key], reference[key])
        else:
            error = _rel_error(ours, reference)
            assert error < MC_TOLERANCE, f"{name} on {network}: relative error {error:.3f}"
    elif spec.kind in ("kron", "kron_mc"):
        ours, ours_model = _backpack_result(network, name, 1, device)
        diag, linear = _kron_diagonals(_inputs(network, 1, device)[0], ours_model, spec.attr)
        if not linear:
            pytest.skip(
                f"no autograd reference for {name}'s Kronecker factors of convolutions, and "
                f"{network} has no linear layer to check them on"
            )
        reference = {k: v for k, v in _reference(network, name, 1, device).items() if k in diag}
        if spec.kind == "kron":
            for key in reference:
                _close(diag[key], reference[key])
        else:
            error = _rel_error(diag, reference)
            assert error < MC_TOLERANCE, f"{name} on {network}: relative error {error:.3f}"
    elif spec.kind == "hessian":
        ours, _ = _backpack_result(network, name, 3, device)
        model, x, y = _inputs(network, 3, device)
        entries = ref.hessian_diagonal_entries(model, nn.CrossEntropyLoss(), x, y, HESSIAN_ENTRIES)
        for key, (idx, values) in entries.items():
            _close(ours[key].flatten()[idx.to(ours[key].device)], values)
    else:  # pragma: no cover - cases.py defines the kinds
        raise ValueError(spec.kind)
