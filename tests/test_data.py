import pytest
import torch

from ggnbench import data
from ggnbench.errors import GGNBenchError
from ggnbench.problems import get_problem, make_loaders
from tests.conftest import make_mnist_root


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
def test_missing_dataset_names_files_and_folder(tmp_path, name):
    with pytest.raises(GGNBenchError) as err:
        data.load_split(name, tmp_path, train=True, transform=None, download=False)
    message = str(err.value)
    assert "\n" not in message
    sub, files = data.EXPECTED_FILES[name]
    assert files in message
    assert str((tmp_path / sub).resolve()) in message


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
    assert torch.equal(again.test.dataset.dataset.tensors[0], parts[2].dataset.tensors[0])


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(GGNBenchError, match="unknown dataset 'svhn'"):
        data.load_split("svhn", tmp_path, train=True, transform=None)
