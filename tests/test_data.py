import dataclasses
import json
from pathlib import Path

import pytest
import torch
import yaml

from ggnbench.errors import GGNBenchError
from ggnbench.workload import data, dataset_spec, providers
from ggnbench.workload.loaders import Holdout, make_loaders
from ggnbench.workload.problems import get_problem
from ggnbench.workload.tensordata import TensorImages
from tests.conftest import make_cifar10_root, make_mnist_root

ROOT = Path(__file__).resolve().parents[1]


def test_idx_fixture_is_read_by_torchvision(mnist_root):
    ds = data.load_split("mnist", mnist_root, train=True, transform=None, download=False)
    assert len(ds) == 700
    image, label = ds[0]
    assert image.size == (28, 28)
    assert 0 <= label < 10


def test_mnist_cnn_loaders_keep_train_split_and_split_test(mnist_root):
    loaders = make_loaders(get_problem("mnist_cnn"), mnist_root, download=False)
    assert len(loaders.train.dataset) == 700
    assert len(loaders.valid.dataset) + len(loaders.test.dataset) == 200
    x, _ = next(iter(loaders.train))
    assert x.shape == (128, 1, 28, 28)
    # Normalize((0.1307,), (0.3081,)) maps a 0 pixel to -0.1307/0.3081.
    assert torch.isclose(x.min(), torch.tensor(-0.1307 / 0.3081), atol=1e-5)


def test_deepobs_holdout_comes_from_train(tmp_path):
    root = make_mnist_root(tmp_path, folder="FashionMNIST", n_train=600, n_test=100)
    loaders = make_loaders(get_problem("fmnist_2c2d"), root, download=False)
    assert len(loaders.valid.dataset) == 100
    assert len(loaders.train.dataset) == 500
    assert len(loaders.test.dataset) == 100
    train_idx = set(loaders.train.dataset.indices)
    assert not train_idx & set(loaders.valid.dataset.indices)


def test_holdout_is_independent_of_run_seed(tmp_path):
    root = make_mnist_root(tmp_path, folder="FashionMNIST", n_train=600, n_test=100)
    torch.manual_seed(1)
    a = make_loaders(get_problem("fmnist_2c2d"), root, download=False).valid.dataset.indices
    torch.manual_seed(2)
    b = make_loaders(get_problem("fmnist_2c2d"), root, download=False).valid.dataset.indices
    assert a == b


@pytest.mark.parametrize("name", ["mnist", "fmnist", "cifar10", "cifar100"])
def test_missing_dataset_names_files_and_folder(tmp_path, name, monkeypatch):
    monkeypatch.setenv(providers.SYSTEM_DATASETS_ENV, str(tmp_path / "no-packages"))
    with pytest.raises(GGNBenchError) as err:
        data.load_split(name, tmp_path, train=True, transform=None, download=False)
    message = str(err.value)
    assert "\n" not in message and "is missing" in message
    spec = data.DATASETS[name]
    if spec.content is not None:
        assert spec.files in message
    else:  # CIFAR: its extracted folder, as torchvision's class names it
        assert f"extracted folder {dataset_spec.torchvision_class(spec).base_folder} " in message
    where = dataset_spec.target(spec, tmp_path) if spec.content is not None else tmp_path
    assert str(where.resolve()) in message
    assert ("apt-get install dataset-fashion-mnist" in message) == (name == "fmnist")


def test_digits_splits_are_disjoint_and_cover_all(tmp_path):
    loaders = make_loaders(get_problem("digits_cnn"), tmp_path)
    parts = [loaders.train.dataset, loaders.valid.dataset, loaders.test.dataset]
    indices = [set(p.indices) for p in parts]
    assert sum(len(i) for i in indices) == 1797
    assert set.union(*indices) == set(range(1797))
    x, _ = next(iter(loaders.train))
    assert x.shape[1:] == (1, 8, 8) and x.min() >= 0.0 and x.max() <= 1.0
    # the tensors are cached in the data root and read back identically
    assert (tmp_path / "digits" / "digits.pt").exists()
    again = make_loaders(get_problem("digits_cnn"), tmp_path)
    assert torch.equal(again.test.dataset.dataset.images, parts[2].dataset.images)


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(GGNBenchError, match="unknown dataset 'svhn'"):
        data.load_split("svhn", tmp_path, train=True, transform=None)


def test_deepobs_cifar_pipeline(tmp_path, cifar_without_checksums):
    from torchvision import transforms

    root = make_cifar10_root(tmp_path, n_per_batch=20, n_test=30)  # 100 training images
    problem = get_problem("cifar10_3c3d")
    loaders = make_loaders(problem, root, batch_size=32, download=False, data_path="pil")
    # 20 of the 100 held out for validation (DeepOBS: 10,000 of 50,000); the last partial
    # batch of the 80 left is dropped: 2 steps a pass, not 3.
    assert len(loaders.valid.dataset) == 20 and len(loaders.train.dataset) == 80
    assert len(loaders.train) == 2 and loaders.train.drop_last
    steps = loaders.train.dataset.dataset.transform.transforms
    assert [type(t) for t in steps] == [
        transforms.Pad, transforms.RandomCrop, transforms.RandomHorizontalFlip,
        transforms.ColorJitter, transforms.ToTensor, transforms.Normalize,
    ]  # fmt: skip
    pad, crop, _, jitter, _, norm = steps
    assert pad.padding == 2 and crop.size == (32, 32)
    assert jitter.brightness == (1 - 63 / 255, 1 + 63 / 255)
    assert jitter.saturation == (0.5, 1.5) and jitter.contrast == (0.2, 1.8)
    assert norm.mean == (0.49139968, 0.48215841, 0.44653091)
    # validation, test and train-eval images are not augmented
    for split in (loaders.valid, loaders.test, loaders.train_eval):
        dataset = getattr(split.dataset, "dataset", split.dataset)  # a Subset or the split
        plain = dataset.transform.transforms
        assert [type(t) for t in plain] == [transforms.ToTensor, transforms.Normalize]
    x, _ = next(iter(loaders.train))
    assert x.shape == (32, 3, 32, 32)
    # The tensor path keeps the augmented training images on the PIL path (DeepOBS's
    # transforms, as above) and holds the others as tensors.
    tensor = make_loaders(problem, root, batch_size=32, download=False)
    augmented = tensor.train.dataset.dataset.transform.transforms
    assert [type(t) for t in augmented] == [type(t) for t in steps]
    for split in (tensor.valid, tensor.test, tensor.train_eval):
        dataset = getattr(split.dataset, "dataset", split.dataset)
        assert isinstance(dataset, TensorImages) and dataset.normalize == problem.normalize


def test_train_eval_is_a_fixed_subset_of_the_training_examples(tmp_path):
    root = make_mnist_root(tmp_path, folder="FashionMNIST", n_train=600, n_test=100)
    full = get_problem("fmnist_2c2d")
    assert len(make_loaders(full, root, download=False).train_eval.dataset) == 500  # all 500
    problem = dataclasses.replace(full, train_eval_size=100)  # fewer than the training set
    subsets = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        loaders = make_loaders(problem, root, download=False)
        subsets.append(loaders.train_eval.dataset.indices)
        train = loaders.train.dataset.indices
        # 100 training examples picked by a permutation fixed once for the problem
        picked = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:100]
        assert subsets[-1] == [train[i] for i in sorted(picked.tolist())]
    assert subsets[0] == subsets[1]


def test_holdout_per_seed_differs_between_seeds(tmp_path):
    root = make_mnist_root(tmp_path, folder="FashionMNIST", n_train=600, n_test=100)
    problem = get_problem("fmnist_2c2d")

    def valid(seed, holdout="per_seed"):
        loaders = make_loaders(problem, root, download=False, holdout=holdout, seed=seed)
        return loaders.valid.dataset.indices

    assert valid(42) != valid(43) and valid(42) == valid(42)
    assert len(valid(42)) == 100
    assert make_loaders(problem, root, download=False).valid.dataset.indices == valid(0)
    # the fixed holdout is the permutation of seed 0 whatever the run's seed
    assert valid(42, "fixed") == valid(0) == valid(7, Holdout.FIXED)
    with pytest.raises(GGNBenchError, match=r"unknown holdout 'nope'; use one of \['fixed'"):
        valid(0, "nope")


def test_example_keeps_the_last_partial_batch(mnist_root):
    loaders = make_loaders(get_problem("mnist_cnn"), mnist_root, download=False)
    assert len(loaders.train) == 6 and not loaders.train.drop_last  # 700 = 5 x 128 + 60


def test_deepobs_evaluation_loaders(tmp_path):
    # DeepOBS's PyTorch data sets: every evaluation loader at the training batch size with
    # the last partial batch dropped; train-eval drawn afresh at every evaluation from the
    # whole training split, the validation examples included.
    root = make_mnist_root(tmp_path, folder="FashionMNIST", n_train=600, n_test=100)
    problem = dataclasses.replace(get_problem("fmnist_2c2d"), train_eval_size=200)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    loaders = make_loaders(
        problem, root, batch_size=32, download=False, evaluation="deepobs", seed=7
    )
    assert torch.equal(torch.get_rng_state(), before)  # no global draws for evaluation
    for loader in (loaders.valid, loaders.test, loaders.train_eval):
        assert loader.batch_size == 32 and loader.drop_last
    assert len(loaders.test) == 3  # 100 test images: 3 batches of 32, 4 dropped
    pool = loaders.train_eval.dataset
    assert len(pool) == 600  # the whole training split, validation examples included
    first = list(loaders.train_eval.sampler)
    second = list(loaders.train_eval.sampler)
    assert len(first) == len(set(first)) == 200 and first != second  # drawn afresh
    valid = set(loaders.valid.dataset.indices)
    assert valid & set(first + second)  # validation examples can be drawn
    again = make_loaders(problem, root, batch_size=32, download=False, evaluation="deepobs", seed=7)
    assert list(again.train_eval.sampler) == first  # the run's seed fixes the draws
    x, _ = next(iter(loaders.train_eval))
    assert x.shape == (32, 1, 28, 28)
    with pytest.raises(GGNBenchError, match="unknown evaluation"):
        make_loaders(problem, root, download=False, evaluation="tf")


@pytest.mark.parametrize("seed", [0, 5])
def test_no_holdout_trains_on_every_training_example(tmp_path, seed):
    root = make_mnist_root(tmp_path, folder="FashionMNIST", n_train=600, n_test=100)
    loaders = make_loaders(
        get_problem("fmnist_2c2d"), root, download=False, holdout=Holdout.NONE, seed=seed
    )
    assert len(loaders.train.dataset) == 600 and len(loaders.valid.dataset) == 0
    assert loaders.train.dataset.indices == list(range(600))  # in order, whatever the seed
    assert len(loaders.train) == 4  # 600 = 4 x 128 + 88, the partial batch dropped


def test_the_2c2d_network_is_deepobs_s_weight_for_weight():
    # DeepOBS's own initialisation of its PyTorch 2C2D (deepobs/pytorch/testproblems/
    # testproblems_modules.py: net_mnist_2c2d and _truncated_normal_init), applied to
    # layers of the same shapes built in the same order, against models.net_2c2d.
    import numpy as np
    from numpy.random import RandomState
    from scipy.stats import truncnorm as tn
    from torch import nn

    from ggnbench.workload import models

    def _truncated_normal_init(tensor, mean=0, stddev=1):
        total_size = tensor.numel()
        np_seed = torch.randint(0, 2**32 - 1, (1, 1)).view(-1).item()
        np_state = RandomState(np_seed)
        samples = tn.rvs(a=-2, b=2, loc=mean, scale=stddev, size=total_size, random_state=np_state)
        samples = samples.reshape(tuple(tensor.size()))
        init_tensor = torch.from_numpy(samples).type_as(tensor)
        return init_tensor

    torch.manual_seed(42)
    layers = [nn.Conv2d(1, 32, 5), nn.Conv2d(32, 64, 5), nn.Linear(3136, 1024), nn.Linear(1024, 10)]
    for module in layers:
        nn.init.constant_(module.bias, 0.05)
        module.weight.data = _truncated_normal_init(module.weight.data, mean=0, stddev=0.05)
    torch.manual_seed(42)
    ours = [m for m in models.net_2c2d().modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    for theirs, mine in zip(layers, ours, strict=True):
        assert torch.equal(theirs.weight, mine.weight) and torch.equal(theirs.bias, mine.bias)
    assert float(ours[2].weight.abs().max()) <= 0.1 and np.isclose(
        float(ours[2].weight.std()), 0.044, atol=2e-3
    )


def test_a_problem_on_a_new_torchvision_dataset_is_registry_entries_only(monkeypatch, tmp_path):
    # tests/new_problem.py: KMNIST, which ggnbench lacked, and a problem on it; the
    # workflow's run of it is
    # tests/test_workflow.py::test_a_new_optimizer_runs_through_the_workflow_and_the_report.
    from ggnbench import cli
    from ggnbench.workflow import plan_check, study
    from ggnbench.workflow.configcheck import config_error
    from ggnbench.workload import problems
    from ggnbench.workload.synthetic import write_mnist
    from tests import new_problem

    monkeypatch.setitem(data.DATASETS, "kmnist", new_problem.DATASET)
    monkeypatch.setitem(problems.PROBLEMS, "kmnist_logreg", new_problem.PROBLEM)
    root = write_mnist(tmp_path / "data", folder="KMNIST", n_train=new_problem.TRAIN,
                       n_test=new_problem.TEST)  # fmt: skip
    assert cli.main(["download", "kmnist", "--data-root", str(root), "--no-download"]) == 0
    out = tmp_path / "run"
    argv = ["train", "--problem", "kmnist_logreg", "--optimizer", "sgd", "--lr", "0.1",
            "--steps", "3", "--eval-every", "0", "--threads", "1", "--no-download",
            "--data-root", str(root), "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "ok" and info["resolved"]["train_size"] < new_problem.TRAIN
    # A study names it like any other problem; the schema does not list problems.
    config = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    config["problems"] = {"kmnist_logreg": {"steps": 4, "eval_every": 2}}
    config["optimizers"] = {"sgd": {"lr": [0.1]}}
    assert config_error(config, ROOT / "config" / "schema.yaml") is None
    config.update(chunk_size=1, eval_batch_size=1000)
    plan_check.check_plan(config)
    planned = study.runs(config, "tune", "kmnist_logreg", "sgd", "cpu")
    assert planned[0]["out"].startswith(f"{config['results']}/runs/kmnist_logreg/sgd/")
