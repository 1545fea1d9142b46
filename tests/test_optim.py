import math
import re

import pytest
import torch
from backpack import backpack, extend
from backpack.extensions import DiagGGNExact, DiagGGNMC
from torch import nn

from ggnbench.errors import GGNBenchError
from ggnbench.optimizers import references
from ggnbench.optimizers.averaging import CurvatureAverage, SharedFactors
from ggnbench.optimizers.curvature import Backend, CurvatureSource, Structure
from ggnbench.optimizers.optim import DiagGGN, backpack_extensions, build_optimizer
from tests.settings_optim import CASES

IDS = [c["id"] for c in CASES]


def make_case(case: dict, device: str, batch: int = 6, seed: int = 0):
    torch.manual_seed(seed)
    model = case["model_fn"]().to(device).double()
    x = torch.randn(batch, *case["input_shape"], device=device, dtype=torch.float64)
    y = torch.randint(0, case["classes"], (batch,), device=device)
    return model, x, y


def backpack_diagonal(model, x, y, extension, attr):
    model = extend(model)
    loss_fn = extend(nn.CrossEntropyLoss())
    model.zero_grad()
    with backpack(extension):
        loss_fn(model(x), y).backward()
    return {name: getattr(p, attr).detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_exact_diagonal_matches_autograd(case, device):
    model, x, y = make_case(case, device)
    reference = references.ggn_diagonal(model, nn.CrossEntropyLoss(), x, y)
    ours = backpack_diagonal(model, x, y, DiagGGNExact(), "diag_ggn_exact")
    for name in reference:
        torch.testing.assert_close(ours[name], reference[name], rtol=1e-8, atol=1e-10)


def mc_average(case, device, samples: int) -> tuple[dict, dict]:
    model, x, y = make_case(case, device)
    reference = references.ggn_diagonal(model, nn.CrossEntropyLoss(), x, y)
    total = {k: torch.zeros_like(v) for k, v in reference.items()}
    torch.manual_seed(1)
    for _ in range(samples):
        one = backpack_diagonal(model, x, y, DiagGGNMC(), "diag_ggn_mc")
        for k in total:
            total[k] += one[k] / samples
    return total, reference


def relative_error(estimate: dict, reference: dict) -> float:
    num = sum(((estimate[k] - reference[k]) ** 2).sum() for k in reference)
    den = sum((reference[k] ** 2).sum() for k in reference)
    return math.sqrt(num / den)


@pytest.mark.parametrize("case", CASES[:1], ids=IDS[:1])
def test_mc_diagonal_average_approaches_exact_fast(case, device):
    estimate_few, reference = mc_average(case, device, 20)
    estimate_many, _ = mc_average(case, device, 300)
    err_few, err_many = (
        relative_error(estimate_few, reference),
        relative_error(estimate_many, reference),
    )
    assert err_many < 0.15
    assert err_many < err_few


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_mc_diagonal_average_approaches_exact_slow(case, device):
    estimate, reference = mc_average(case, device, 5000)
    assert relative_error(estimate, reference) < 0.03


@pytest.mark.parametrize("curvature,attr", [("mc", "diag_ggn_mc"), ("exact", "diag_ggn_exact")])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_step_equals_closed_form(curvature, attr, weight_decay, device):
    model, x, y = make_case(CASES[0], device)
    lr, damping = 0.3, 0.7
    opt = DiagGGN(model.parameters(), lr=lr, damping=damping, curvature=curvature,
                  weight_decay=weight_decay)  # fmt: skip
    model = extend(model)
    loss_fn = extend(nn.CrossEntropyLoss())
    with backpack(*opt.backpack_extensions()):
        loss_fn(model(x), y).backward()
    before = [p.detach().clone() for p in model.parameters()]
    expected = [
        p0 - lr * (p.grad + weight_decay * p0) / (getattr(p, attr) + damping + weight_decay)
        for p0, p in zip(before, model.parameters(), strict=True)
    ]
    opt.step()
    for p, e in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(p.detach(), e)


def test_step_without_extension_is_a_clear_error():
    model, x, y = make_case(CASES[1], "cpu")
    opt = DiagGGN(model.parameters(), lr=0.1, damping=1.0)
    nn.CrossEntropyLoss()(model(x), y).backward()
    with pytest.raises(GGNBenchError, match=r"has no 'diag_ggn_mc'.*backward_context"):
        opt.step()


def test_declared_extensions():
    params = [nn.Parameter(torch.zeros(2))]
    assert isinstance(backpack_extensions(DiagGGN(params, 0.1, 1.0))[0], DiagGGNMC)
    exact = DiagGGN(params, 0.1, 1.0, curvature="exact")
    assert isinstance(backpack_extensions(exact)[0], DiagGGNExact)
    assert backpack_extensions(build_optimizer("adam", params, lr=0.1)) == ()


def test_registry_builds_every_optimizer():
    params = [nn.Parameter(torch.zeros(2))]
    assert isinstance(build_optimizer("sgd", params, lr=0.1, momentum=0.9), torch.optim.SGD)
    assert build_optimizer("sgd", params, lr=0.1, momentum=0.9).defaults["momentum"] == 0.9
    assert isinstance(build_optimizer("adam", params, lr=0.1), torch.optim.Adam)
    for name in ("diag_ggn_mc", "diag_ggn_exact"):
        assert isinstance(build_optimizer(name, params, lr=0.1, damping=1e-3), DiagGGN)


@pytest.mark.parametrize(
    "name,kwargs,match",
    [
        ("lbfgs", {"lr": 0.1}, "unknown optimizer 'lbfgs'"),
        ("sgd", {"lr": 0.0}, "lr must be a finite number > 0"),
        ("sgd", {"lr": -1.0}, "lr must be a finite number > 0"),
        ("sgd", {"lr": float("inf")}, "lr must be a finite number > 0"),
        ("diag_ggn_mc", {"lr": 0.1, "damping": -1.0}, "damping must be a finite number >= 0"),
        ("diag_ggn_mc", {"lr": 0.1, "damping": float("nan")}, "damping must be a finite"),
        ("diag_ggn_mc", {"lr": 0.1}, "needs a damping"),
        ("adam", {"lr": 0.1, "damping": 1.0}, "does not take damping; it takes nothing"),
        ("sgd", {"lr": 0.1, "momentum": -0.5}, "momentum must be"),
    ],
)
def test_registry_rejects_bad_hyperparameters(name, kwargs, match):
    with pytest.raises(GGNBenchError, match=match):
        build_optimizer(name, [nn.Parameter(torch.zeros(2))], **kwargs)


def test_unknown_curvature():
    with pytest.raises(GGNBenchError, match="unknown curvature"):
        DiagGGN([nn.Parameter(torch.zeros(2))], lr=0.1, damping=1.0, curvature="kfac")


def fixed_steps(mode: str, steps: int = 4, wd: float = 0.1, beta: float = 0.8):
    """Run DiagGGN on one parameter with given gradients and diagonals; return both."""
    gen = torch.Generator().manual_seed(0)
    p = nn.Parameter(torch.randn(5, generator=gen, dtype=torch.float64))
    opt = DiagGGN([p], lr=0.3, damping=0.2, weight_decay=wd, curvature_average=mode,
                  curvature_beta=beta)  # fmt: skip
    grads = [torch.randn(5, generator=gen, dtype=torch.float64) for _ in range(steps)]
    diags = [torch.rand(5, generator=gen, dtype=torch.float64) for _ in range(steps)]
    trajectory = [p.detach().clone()]
    for g, d in zip(grads, diags, strict=True):
        p.grad, p.diag_ggn_mc = g.clone(), d.clone()
        opt.step()
        trajectory.append(p.detach().clone())
    return trajectory, grads, diags, opt


@pytest.mark.parametrize("mode", ["none", "mean", "ema"])
def test_update_equals_closed_form_over_several_steps(mode):
    lr, damping, wd, beta = 0.3, 0.2, 0.1, 0.8
    trajectory, grads, diags, _ = fixed_steps(mode, wd=wd, beta=beta)
    for t, (g, _) in enumerate(zip(grads, diags, strict=True)):
        seen = torch.stack(diags[: t + 1])
        if mode == "none":
            curvature = diags[t]
        elif mode == "mean":
            curvature = seen.mean(0)
        else:  # (1 - beta) sum_i beta^(t-i) x_i / (1 - beta^(t+1))
            weights = torch.tensor([beta ** (t - i) for i in range(t + 1)], dtype=torch.float64)
            curvature = (1 - beta) * (weights[:, None] * seen).sum(0) / (1 - beta ** (t + 1))
        p = trajectory[t]
        expected = p - lr * (g + wd * p) / (curvature + damping + wd)
        torch.testing.assert_close(trajectory[t + 1], expected, rtol=1e-12, atol=1e-12)


def test_mean_is_the_arithmetic_mean_of_ten_observations():
    _, _, diags, opt = fixed_steps("mean", steps=10)
    state = next(iter(opt.state.values()))
    assert state["observations"] == 10
    torch.testing.assert_close(
        state["curvature"][0], torch.stack(diags).mean(0), rtol=1e-14, atol=0
    )


@pytest.mark.parametrize("mode", ["mean", "ema"])
def test_curvature_average_is_part_of_the_state_dict(mode):
    trajectory, grads, diags, _ = fixed_steps(mode, steps=6)
    # Replay: three steps, save, load into a fresh optimizer, three more steps.
    p = nn.Parameter(trajectory[0].clone())
    first = DiagGGN([p], lr=0.3, damping=0.2, weight_decay=0.1, curvature_average=mode,
                    curvature_beta=0.8)  # fmt: skip
    for g, d in zip(grads[:3], diags[:3], strict=True):
        p.grad, p.diag_ggn_mc = g.clone(), d.clone()
        first.step()
    saved = first.state_dict()
    assert saved["state"][0]["observations"] == 3 and "curvature" in saved["state"][0]
    second = DiagGGN([p], lr=0.3, damping=0.2, curvature_average=mode)
    second.load_state_dict(saved)
    for g, d in zip(grads[3:], diags[3:], strict=True):
        p.grad, p.diag_ggn_mc = g.clone(), d.clone()
        second.step()
    assert torch.equal(p.detach(), trajectory[-1])


def test_options_given_as_strings_are_held_as_members():
    opt = DiagGGN([nn.Parameter(torch.zeros(2))], lr=0.1, damping=1.0, curvature_average="mean",
                  backend="native")  # fmt: skip
    assert opt.backend is Backend.NATIVE
    assert opt.defaults["curvature_average"] is CurvatureAverage.MEAN
    assert opt.defaults["shared_factors"] is SharedFactors.SEPARATE
    assert CurvatureSource(DiagGGNMC, "diag_ggn_mc", "diagonal").structure is Structure.DIAGONAL
    with pytest.raises(GGNBenchError, match="unknown structure 'dense'; use one of"):
        CurvatureSource(DiagGGNMC, "diag_ggn_mc", "dense")
    with pytest.raises(GGNBenchError, match=r"unknown backend 'jax' for DiagGGNMC; .*'native'\]"):
        DiagGGN([nn.Parameter(torch.zeros(2))], lr=0.1, damping=1.0, backend="jax")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"curvature_average": "median"}, "unknown curvature_average 'median'"),
        ({"curvature_beta": 1.0}, r"curvature_beta must be in \[0, 1\), got 1.0"),
        ({"curvature_beta": -0.1}, r"curvature_beta must be in \[0, 1\), got -0.1"),
    ],
)
def test_bad_curvature_average_options(kwargs, match):
    with pytest.raises(GGNBenchError, match=match):
        DiagGGN([nn.Parameter(torch.zeros(2))], lr=0.1, damping=1.0, **kwargs)


def test_every_hyperparameter_is_declared_once_and_reaches_the_command_line(monkeypatch):
    """The registry's entries give the options; a run holds them in one mapping."""
    import dataclasses

    from ggnbench import cli
    from ggnbench.optimizers import optim
    from ggnbench.optimizers.hyperparams import Hyperparameter
    from ggnbench.run.config import RunConfig

    declared = optim.hyperparameters()
    assert {"damping", "momentum", "inverse_every"} <= set(declared)
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    assert not set(declared) & fields  # no hyperparameter is a field of its own
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    flags = {flag for action in train._actions for flag in action.option_strings}
    assert {h.flag for h in declared.values()} <= flags
    # one name declared two ways by two optimizers is refused
    other = Hyperparameter("damping", "another damping")
    clash = optim.OptimizerSpec(optim.OPTIMIZERS["adam"].factory, (other,))
    monkeypatch.setitem(optim.OPTIMIZERS, "clash", clash)
    with pytest.raises(GGNBenchError, match="declares damping unlike another optimizer"):
        optim.hyperparameters()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("damping", -1e-300, "damping must be a finite number >= 0"),
        ("damping", float("inf"), "damping must be a finite number >= 0"),
        ("damping", float("nan"), "damping must be a finite number >= 0"),
        ("damping", "0.1", "damping must be a finite number >= 0"),
        ("damping", None, "damping must be a finite number >= 0"),
        ("curvature_beta", 1.0, "curvature_beta must be a finite number >= 0 and < 1"),
        ("curvature_beta", -0.01, "curvature_beta must be a finite number >= 0 and < 1"),
        ("inverse_every", 0, "inverse_every must be an integer >= 1"),
        ("inverse_every", 1.0, "inverse_every must be an integer >= 1"),
        ("inverse_every", True, "inverse_every must be an integer >= 1"),
        ("backend", "BackPACK", "backend must be backpack | native, got 'BackPACK'"),
    ],
)
def test_a_hyperparameter_refuses_a_value_past_its_bound(name, value, message):
    from ggnbench.optimizers.optim import hyperparameters

    with pytest.raises(GGNBenchError, match=re.escape(message)):
        hyperparameters()[name].check(value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("damping", 0.0), ("curvature_beta", 0.0), ("curvature_beta", 0.999999),
     ("inverse_every", 1), ("backend", "native"), ("momentum", 0)],
)  # fmt: skip
def test_a_hyperparameter_takes_a_value_on_its_bound(name, value):
    from ggnbench.optimizers.optim import hyperparameters

    hyperparameters()[name].check(value)
