"""The native GGN diagonal against torch.func, against BackPACK, and on bad input."""

import copy

import pytest
import torch
from backpack import backpack, extend
from backpack.extensions import DiagGGNExact, DiagGGNMC
from torch import nn

from ggnbench.errors import GGNBenchError
from ggnbench.optimizers import references
from ggnbench.optimizers.ggn import NativeDiagGGN, sqrt_hessian
from ggnbench.optimizers.optim import DiagGGN, backward, prepare
from ggnbench.workload.problems import PROBLEMS

#: Every problem's network with both reductions; All-CNN-C (100 classes, the reference's
#: slowest case at 8 s a sample) with one sample and mean reduction only.
CASES = [
    pytest.param(network, reduction, id=f"{network}-{reduction}")
    for network in sorted(PROBLEMS)
    for reduction in ("mean", "sum")
    if network != "cifar100_allcnnc" or reduction == "mean"
]


def inputs(network: str, batch: int, device: str = "cpu", seed: int = 0):
    problem = PROBLEMS[network]
    torch.manual_seed(seed)
    model = problem.model_fn().to(device=device, dtype=torch.float64).eval()
    x = torch.randn(batch, *problem.input_shape, device=device, dtype=torch.float64)
    y = torch.randint(0, problem.num_classes, (batch,), device=device)
    return model, x, y


def native_diagonal(model, loss_fn, x, y, kind, **options):
    model = copy.deepcopy(model)
    native = NativeDiagGGN(kind, **options)
    native.attach(model, loss_fn)
    loss = loss_fn(model(x), y)
    with native:
        loss.backward()
    return {name: getattr(p, f"diag_ggn_{kind}") for name, p in model.named_parameters()}


def backpack_diagonal(model, loss_fn, x, y, extension):
    model, loss_fn = extend(copy.deepcopy(model)), extend(copy.deepcopy(loss_fn))
    loss = loss_fn(model(x), y)
    with backpack(extension):
        loss.backward()
    attr = "diag_ggn_mc" if isinstance(extension, DiagGGNMC) else "diag_ggn_exact"
    return {name: getattr(p, attr) for name, p in model.named_parameters()}


@pytest.mark.parametrize(("network", "reduction"), CASES)
def test_exact_equals_the_torch_func_reference(network, reduction, device):
    model, x, y = inputs(network, 1 if network == "cifar100_allcnnc" else 2, device)
    loss_fn = nn.CrossEntropyLoss(reduction=reduction)
    ours = native_diagonal(model, loss_fn, x, y, "exact")
    reference = references.ggn_diagonal(model, loss_fn, x, y)
    assert ours.keys() == reference.keys()
    for name in reference:
        torch.testing.assert_close(ours[name], reference[name], rtol=1e-9, atol=1e-12)


def dropout_net() -> nn.Module:
    """Every supported layer type, dropout included, in one small network."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(), nn.ZeroPad2d((0, 1, 0, 1)),
        nn.MaxPool2d(3, 2), nn.Dropout(0.3), nn.Conv2d(4, 6, 1), nn.Sigmoid(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6, 8), nn.Tanh(), nn.Identity(),
        nn.Sequential(nn.Dropout(0.5), nn.Linear(8, 5)),
    )  # fmt: skip


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_exact_equals_backpack_in_training_mode_with_dropout(reduction, device):
    """In float32: BackPACK's AvgPool2d derivative builds float32 kernels only."""
    torch.manual_seed(0)
    model = dropout_net().to(device=device).train()
    x = torch.randn(7, 2, 9, 9, device=device)
    y = torch.randint(0, 5, (7,), device=device)
    loss_fn = nn.CrossEntropyLoss(reduction=reduction)
    torch.manual_seed(3)  # the same dropout masks in both forward passes
    ours = native_diagonal(model, loss_fn, x, y, "exact")
    torch.manual_seed(3)
    theirs = backpack_diagonal(model, loss_fn, x, y, DiagGGNExact())
    for name in theirs:
        scale = float(theirs[name].abs().max())
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-4, atol=1e-6 * scale)
    assert all(float(d.abs().sum()) > 0 for d in ours.values())


def test_string_padding_and_dilation_equal_the_reference():
    """BackPACK refuses ``padding="same"``; the reference checks it."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding="same", dilation=2), nn.ReLU(),
        nn.Conv2d(3, 3, 3, padding="valid", stride=2), nn.Flatten(), nn.Linear(3 * 3 * 3, 4),
    ).double()  # fmt: skip
    x, y = torch.randn(3, 2, 7, 7, dtype=torch.float64), torch.tensor([0, 3, 1])
    loss_fn = nn.CrossEntropyLoss()
    ours = native_diagonal(model, loss_fn, x, y, "exact")
    reference = references.ggn_diagonal(model, loss_fn, x, y)
    for name in reference:
        torch.testing.assert_close(ours[name], reference[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("samples", [1, 3])
@pytest.mark.parametrize("network", ["digits_cnn", "cifar10_3c3d"])
def test_mc_draws_as_backpack_does_and_matches_it(network, samples, device):
    model, x, y = inputs(network, 5, device)
    loss_fn = nn.CrossEntropyLoss()
    torch.manual_seed(11)
    ours = native_diagonal(model, loss_fn, x, y, "mc", mc_samples=samples)
    after_ours = torch.rand(1, device=device)
    torch.manual_seed(11)
    theirs = backpack_diagonal(model, loss_fn, x, y, DiagGGNMC(mc_samples=samples))
    # both consumed the same random numbers
    assert torch.equal(torch.rand(1, device=device), after_ours)
    exact = native_diagonal(model, loss_fn, x, y, "exact")
    for name in theirs:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-9, atol=1e-12)
    assert any(not torch.allclose(ours[k], exact[k]) for k in exact)  # a sample, not the mean


def test_mc_uses_its_own_generator():
    model, x, y = inputs("digits_cnn", 4)
    loss_fn = nn.CrossEntropyLoss()

    def with_seed(seed):
        generator = torch.Generator().manual_seed(seed)
        return native_diagonal(model, loss_fn, x, y, "mc", mc_samples=2, generator=generator)

    torch.manual_seed(0)
    first = with_seed(1)
    state = torch.get_rng_state()
    assert all(torch.equal(first[k], v) for k, v in with_seed(1).items())
    assert any(not torch.equal(first[k], v) for k, v in with_seed(2).items())
    assert torch.equal(torch.get_rng_state(), state)  # the global generator was not used


def mc_within_bound(network: str, samples: int, sigmas: float = 5.0) -> None:
    """The mean of single-sample MC diagonals lies within ``sigmas`` standard errors of exact.

    Each entry's standard error is estimated from the same samples; with a fixed
    generator the check is deterministic, and a 5-sigma bound over a few thousand entries
    fails by chance with probability well below 1e-3 for a fresh seed.
    """
    model, x, y = inputs(network, 3)
    loss_fn = nn.CrossEntropyLoss()
    exact = native_diagonal(model, loss_fn, x, y, "exact")
    generator = torch.Generator().manual_seed(0)
    draws = [
        native_diagonal(model, loss_fn, x, y, "mc", generator=generator) for _ in range(samples)
    ]
    for name, value in exact.items():
        stack = torch.stack([d[name] for d in draws])
        mean, error = stack.mean(0), stack.std(0) / samples**0.5
        assert (mean - value).abs().le(sigmas * error + 1e-12).all(), name


def test_mc_mean_converges_to_exact_fast():
    mc_within_bound("digits_cnn", 200)


@pytest.mark.slow
@pytest.mark.parametrize("network", ["mnist_cnn", "fmnist_2c2d", "cifar10_3c3d"])
def test_mc_mean_converges_to_exact_slow(network):
    mc_within_bound(network, 2000)


def test_sqrt_hessian_columns_reproduce_the_hessian():
    logits = torch.randn(4, 6, dtype=torch.float64)
    probs = logits.softmax(1)
    hessian = torch.diag_embed(probs) - probs.unsqueeze(2) * probs.unsqueeze(1)
    columns = sqrt_hessian(logits, "exact", "sum")
    torch.testing.assert_close(columns.transpose(1, 2) @ columns, hessian)
    mean = sqrt_hessian(logits, "exact", "mean")
    torch.testing.assert_close(mean.transpose(1, 2) @ mean, hessian / 4)
    sampled = sqrt_hessian(logits, "mc", "sum", 20000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(sampled.transpose(1, 2) @ sampled, hessian, atol=0.02, rtol=0)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), r"layer '1': .*BatchNorm2d"),
        (nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.GELU())), r"layer '1.0': .*GELU"),
        (nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), r"layer '0': .*groups=2"),
        (nn.ModuleList([nn.Linear(2, 2)]), r"the model: .*ModuleList"),
        (nn.Sequential(nn.ReLU()), "no Linear or Conv2d layer"),
    ],
)
def test_unsupported_layers_are_named_before_any_step(model, message):
    params = list(model.parameters()) or [nn.Parameter(torch.zeros(1))]
    optimizer = DiagGGN(params, lr=0.1, damping=1.0, backend="native")
    with pytest.raises(GGNBenchError, match=message):
        prepare(optimizer, model, nn.CrossEntropyLoss())


@pytest.mark.parametrize(
    "loss_fn",
    [nn.MSELoss(), nn.CrossEntropyLoss(reduction="none"), nn.CrossEntropyLoss(label_smoothing=0.1),
     nn.CrossEntropyLoss(weight=torch.ones(3))],
)  # fmt: skip
def test_unsupported_losses_are_refused(loss_fn):
    with pytest.raises(GGNBenchError, match=r"needs nn\.CrossEntropyLoss"):
        NativeDiagGGN("exact").attach(nn.Sequential(nn.Linear(2, 3)), loss_fn)


def test_misuse_is_a_clear_error():
    with pytest.raises(GGNBenchError, match="unknown GGN kind"):
        NativeDiagGGN("kfac")
    with pytest.raises(GGNBenchError, match="mc_samples must be an integer >= 1"):
        NativeDiagGGN("mc", mc_samples=0)
    model, loss_fn = (
        nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)),
        nn.CrossEntropyLoss(),
    )
    native = NativeDiagGGN("exact")
    native.attach(model, loss_fn)
    with pytest.raises(GGNBenchError, match="saw no forward pass"), native:
        pass
    x, y = torch.randn(5, 3), torch.randint(0, 2, (5,))
    loss = loss_fn(model[2](model[1](model[0](x)) + 1), y)  # not the model's own chain
    with pytest.raises(GGNBenchError, match="each on its predecessor's output"), native:
        loss.backward()
    with torch.no_grad():  # evaluation passes are not recorded
        model(x)
    with pytest.raises(GGNBenchError, match="saw no forward pass"), native:
        pass
    unattached = DiagGGN(model.parameters(), lr=0.1, damping=1.0, backend="native")
    with pytest.raises(GGNBenchError, match="is not attached"):
        backward(unattached, loss_fn(model(x), y))
    with pytest.raises(GGNBenchError, match="unknown backend"):
        DiagGGN(model.parameters(), lr=0.1, damping=1.0, backend="jax")


def test_detach_removes_the_hooks():
    model, loss_fn = nn.Sequential(nn.Linear(3, 2)), nn.CrossEntropyLoss()
    native = NativeDiagGGN("exact")
    native.attach(model, loss_fn)
    native.detach()
    loss_fn(model(torch.randn(2, 3)), torch.tensor([0, 1]))
    assert not model[0]._forward_hooks and not loss_fn._forward_hooks


@pytest.mark.parametrize("curvature", ["mc", "exact"])
def test_native_optimizer_steps_as_the_backpack_one(curvature):
    """Three DiagGGN steps with either backend give the same weights (same random numbers)."""
    weights = {}
    for backend in ("backpack", "native"):
        torch.manual_seed(0)
        model = PROBLEMS["digits_cnn"].model_fn().double()
        loss_fn = nn.CrossEntropyLoss()
        optimizer = DiagGGN(model.parameters(), lr=0.1, damping=0.01, curvature=curvature,
                            curvature_average="mean", backend=backend)  # fmt: skip
        model, loss_fn = prepare(optimizer, model, loss_fn)
        for _ in range(3):
            x = torch.randn(8, 1, 8, 8, dtype=torch.float64)
            y = torch.randint(0, 10, (8,))
            optimizer.zero_grad()
            backward(optimizer, loss_fn(model(x), y))
            optimizer.step()
        weights[backend] = [p.detach().clone() for p in model.parameters()]
    for ours, theirs in zip(weights["native"], weights["backpack"], strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)


def test_per_sample_slices_sum_as_one(monkeypatch):
    """Large batches form the per-sample gradients a slice of samples at a time."""
    import ggnbench.optimizers.ggn_rules

    model, x, y = inputs("cifar10_3c3d", 3)
    loss_fn = nn.CrossEntropyLoss()
    whole = native_diagonal(model, loss_fn, x, y, "exact")
    monkeypatch.setattr(ggnbench.optimizers.ggn_rules, "CHUNK_ELEMENTS", 1)  # one sample per slice
    sliced = native_diagonal(model, loss_fn, x, y, "exact")
    for name in whole:
        torch.testing.assert_close(sliced[name], whole[name], rtol=1e-12, atol=0)
