"""The tensor data path and the fast evaluation path against the paths they replace."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from backpack import extend
from torch import nn

from ggnbench.errors import GGNBenchError
from ggnbench.run.config import RunConfig
from ggnbench.run.train import run
from ggnbench.workload.evaluation import evaluate, inference_network
from ggnbench.workload.loaders import make_loaders
from ggnbench.workload.problems import get_problem
from ggnbench.workload.tensordata import TensorImages
from tests.conftest import DEVICES, make_cifar10_root, make_mnist_root

SPLITS = ("train", "valid", "test", "train_eval")
#: The fast evaluation path's stated tolerances (ggnbench.workload.evaluation.evaluate).
LOSS_RTOL, LOSS_ATOL, ACCURACY_ATOL = 1e-5, 1e-6, 1e-3


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, object]:
    """Small MNIST, Fashion-MNIST and CIFAR-10 data sets, in their original formats."""
    from torchvision.datasets import cifar

    tmp = tmp_path_factory.mktemp("tensordata")
    check = cifar.check_integrity
    cifar.check_integrity = lambda *args, **kwargs: True  # test-written CIFAR batches
    yield {
        "mnist": make_mnist_root(tmp / "mnist"),
        "fmnist": make_mnist_root(tmp / "fmnist", folder="FashionMNIST"),
        "cifar10": make_cifar10_root(tmp / "cifar", n_per_batch=40, n_test=50),
        "digits": tmp / "digits",
    }
    cifar.check_integrity = check


def batches(problem: str, root, seed: int, evaluation: str, data_path: str, device="cpu"):
    """Every batch of two passes over every split, then one draw of the global RNG."""
    torch.manual_seed(seed)
    loaders = make_loaders(get_problem(problem), root, batch_size=32, download=False,
                           evaluation=evaluation, seed=seed, data_path=data_path,
                           device=device)  # fmt: skip
    drawn = []
    for _ in range(2):
        for split in SPLITS:
            if problem.startswith("cifar") and split == "train":
                continue  # augmented: the PIL path on both (tested in test_data.py)
            drawn += [(split, x, y) for x, y in getattr(loaders, split)]
    return drawn, torch.rand(4)


@pytest.mark.parametrize("evaluation", ["ggnbench", "deepobs"])
@pytest.mark.parametrize(
    "problem", ["mnist_cnn", "mnist_logreg", "fmnist_2c2d", "cifar10_3c3d", "digits_cnn"]
)
def test_tensor_batches_are_the_pil_batches_bitwise(roots, problem, evaluation):
    root = roots[get_problem(problem).dataset]
    for seed in (0, 1, 7):
        pil, pil_next = batches(problem, root, seed, evaluation, "pil")
        tensor, tensor_next = batches(problem, root, seed, evaluation, "tensor")
        assert len(pil) == len(tensor) > 0
        for (split, x0, y0), (split1, x1, y1) in zip(pil, tensor, strict=True):
            assert split == split1
            assert x0.dtype == x1.dtype and y0.dtype == y1.dtype
            assert torch.equal(x0, x1) and torch.equal(y0, y1), (seed, split)
        # the same random draws were made: the global RNG is where the PIL path left it
        assert torch.equal(pil_next, tensor_next)


def test_one_example_reads_as_on_the_pil_path(roots):
    problem = get_problem("cifar10_3c3d")
    pil = make_loaders(problem, roots["cifar10"], download=False, data_path="pil").test.dataset
    tensor = make_loaders(problem, roots["cifar10"], download=False).test.dataset
    assert isinstance(tensor, TensorImages)
    for i in (0, 7, len(pil) - 1):
        (x0, y0), (x1, y1) = pil[i], tensor[i]
        assert torch.equal(x0, x1) and y0 == y1 and type(y0) is type(y1)


def test_an_unknown_data_path_is_named(roots):
    with pytest.raises(GGNBenchError, match=r"unknown data path 'numpy'.*tensor"):
        make_loaders(get_problem("fmnist_2c2d"), roots["fmnist"], download=False,
                     data_path="numpy")  # fmt: skip
    with pytest.raises(GGNBenchError, match="unknown eval_path 'quick'"):
        RunConfig(problem="digits_cnn", optimizer="sgd", lr=0.1, steps=1,
                  eval_path="quick").validate()  # fmt: skip


def _run(root, **fields) -> dict:
    cfg = RunConfig(problem="fmnist_2c2d", data_root=str(root), download=False,
                    batch_size=32, eval_batch_size=100, **fields)  # fmt: skip
    return run(cfg)


def _split(result, split: str) -> list[tuple[int, float, float]]:
    return [(r["step"], r["loss"], r["accuracy"]) for r in result.records if r["split"] == split]


@pytest.mark.parametrize(
    "optimizer", [{"optimizer": "sgd", "hparams": {"momentum": 0.9}},
                  {"optimizer": "diag_ggn_mc", "hparams": {"damping": 0.1}}],
)  # fmt: skip
def test_training_is_bitwise_the_same_on_both_paths(roots, optimizer):
    """DiagGGN-MC draws its samples from the global RNG, which the loaders also draw from."""
    common = {"lr": 0.05, "epochs": 2, "eval_every": 5, "seed": 3, "evaluation": "deepobs",
              "holdout": "per_seed", **optimizer}  # fmt: skip
    old = _run(roots["fmnist"], data_path="pil", eval_path="exact", **common)
    new = _run(roots["fmnist"], **common)
    assert _split(old, "train") == _split(new, "train")
    for split in ("valid", "test", "train_eval"):
        a, b = _split(old, split), _split(new, split)
        assert [s for s, _, _ in a] == [s for s, _, _ in b] and len(a) > 3
        for (_, loss_a, acc_a), (_, loss_b, acc_b) in zip(a, b, strict=True):
            assert loss_b == pytest.approx(loss_a, rel=LOSS_RTOL, abs=LOSS_ATOL)
            assert acc_b == pytest.approx(acc_a, abs=ACCURACY_ATOL)
    assert new.summary["evaluations"] == old.summary["evaluations"] == len(a)
    assert new.summary["eval_time_s"] > 0 and new.summary["median_data_s"] > 0


class CountingNet(nn.Module):
    """A linear classifier that records the size of every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(784, 10)
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(x))
        return self.linear(x.flatten(1))


def test_fast_evaluation_equals_exact_bitwise_on_the_same_passes_and_within_rounding_cut(roots):
    torch.manual_seed(0)
    net = CountingNet()  # no convolutions: evaluated as it is
    loss_fn = nn.CrossEntropyLoss()
    cpu = torch.device("cpu")
    problem = get_problem("fmnist_2c2d")
    ggn = make_loaders(problem, roots["fmnist"], download=False, eval_batch_size=64).test
    exact = evaluate(net, loss_fn, ggn, cpu, "exact")
    fast = evaluate(net, loss_fn, ggn, cpu, "fast", batch_size=64)
    assert fast == exact  # the same passes, the same float64 sums: bitwise
    # DeepOBS's loaders (training batch size 16 here): passes of 100 cut from the stream
    obs = make_loaders(problem, roots["fmnist"], batch_size=16, download=False,
                       evaluation="deepobs").test  # fmt: skip
    net.sizes.clear()
    exact = evaluate(net, loss_fn, obs, cpu, "exact")
    assert set(net.sizes) == {16} and sum(net.sizes) == 192  # 200 with the last 8 dropped
    for size, passes in ((100, [100, 92]), (40, [40] * 4 + [32]), (16, [16] * 12)):
        net.sizes.clear()
        fast = evaluate(net, loss_fn, obs, cpu, "fast", batch_size=size)
        assert net.sizes == passes
        assert fast[0] == pytest.approx(exact[0], rel=LOSS_RTOL, abs=LOSS_ATOL)
        assert fast[1] == exact[1]


@pytest.mark.parametrize("problem", ["mnist_cnn", "fmnist_2c2d", "cifar10_3c3d", "digits_cnn"])
def test_a_convolutional_network_is_frozen_on_cpu_and_evaluates_within_tolerance(roots, problem):
    spec = get_problem(problem)
    torch.manual_seed(1)
    model = extend(spec.model_fn())  # with BackPACK's hooks, as a curvature run has it
    loader = make_loaders(spec, roots[spec.dataset], batch_size=32, download=False,
                          evaluation="deepobs").test  # fmt: skip
    x = next(iter(loader))[0]
    frozen = inference_network(model.eval(), x)
    assert isinstance(frozen, torch.jit.ScriptModule)
    with torch.inference_mode():
        torch.testing.assert_close(frozen(x), model(x), rtol=1e-4, atol=1e-5)
    cpu = torch.device("cpu")
    exact = evaluate(model, spec.loss_fn(), loader, cpu, "exact")
    fast = evaluate(model, spec.loss_fn(), loader, cpu, "fast", batch_size=128)
    assert fast[0] == pytest.approx(exact[0], rel=LOSS_RTOL, abs=LOSS_ATOL)
    assert fast[1] == pytest.approx(exact[1], abs=ACCURACY_ATOL)
    linear = get_problem("mnist_logreg").model_fn().eval()
    assert inference_network(linear, x) is linear  # nothing to gain without convolutions


def test_fast_evaluation_leaves_training_mode_and_gradients_alone(roots):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(784, 10))
    loader = make_loaders(get_problem("fmnist_2c2d"), roots["fmnist"], download=False).test
    net.train()
    first = evaluate(net, nn.CrossEntropyLoss(), loader, torch.device("cpu"), "fast")
    assert net.training
    assert first == evaluate(net, nn.CrossEntropyLoss(), loader, torch.device("cpu"), "fast")
    out = net(next(iter(loader))[0]).sum()  # the weights still train after inference mode
    out.backward()
    assert net[2].weight.grad is not None


@pytest.mark.parametrize("device", DEVICES)
def test_tensor_batches_on_the_device_are_the_cpu_batches(roots, device):
    cpu, _ = batches("fmnist_2c2d", roots["fmnist"], 2, "deepobs", "pil")
    dev, _ = batches("fmnist_2c2d", roots["fmnist"], 2, "deepobs", "tensor", device)
    assert all(x.device.type == device for _, x, _ in dev)
    for (_, x0, y0), (_, x1, y1) in zip(cpu, dev, strict=True):
        assert torch.equal(x0, x1.cpu()) and torch.equal(y0, y1.cpu())


def test_a_problem_without_normalization_holds_float_digits_as_they_are(roots):
    problem = dataclasses.replace(get_problem("digits_cnn"))
    loaders = make_loaders(problem, roots["digits"], download=False)
    held = loaders.test.dataset.dataset
    assert isinstance(held, TensorImages) and held.images.dtype == torch.float32
