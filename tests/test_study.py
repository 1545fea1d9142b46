from pathlib import Path

import pytest
import yaml

from ggnbench import study
from ggnbench.configcheck import config_error
from ggnbench.errors import GGNBenchError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def resolved(name: str) -> dict:
    """A shipped config with the schema's defaults that the studies rely on."""
    config = load(name)
    config.setdefault("chunk_size", 1)
    config.setdefault("eval_batch_size", 1000)
    config.setdefault("threads", 1)
    for problem in config["problems"].values():
        problem.setdefault("eval_every", 100)
    return config


@pytest.mark.parametrize(
    "name", ["config/config.yaml", "config/quick.yaml", "tests/workflow/tiny.yaml"]
)
def test_shipped_configs_are_valid(name):
    assert config_error(load(name), SCHEMA) is None


@pytest.mark.parametrize(
    "edit,key,words",
    [
        (lambda c: c["problems"].update(imagenet={"steps": 1}), "problems", "'imagenet'"),
        (lambda c: c["optimizers"]["sgd"].update(lr=[]), "optimizers/sgd/lr", "non-empty"),
        (lambda c: c["optimizers"]["sgd"].update(lr=[-1]), "optimizers/sgd/lr/0", "minimum"),
        (lambda c: c["optimizers"]["sgd"].update(lr=["x"]), "optimizers/sgd/lr/0", "type"),
        (lambda c: c["optimizers"].update(lbfgs={"lr": [1]}), "optimizers", "lbfgs"),
        (lambda c: c.update(threads=0), "threads", "minimum"),
        (lambda c: c.update(final_seeds=[]), "final_seeds", "non-empty"),
        (lambda c: c["optimizers"]["diag_ggn_mc"].update(damping=[-1.0]), "damping/0", "minimum"),
        (lambda c: c.update(devices=["tpu"]), "devices", "tpu"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(edit, key, words):
    config = load("config/quick.yaml")
    edit(config)
    message = config_error(config, SCHEMA)
    assert message is not None and "\n" not in message
    assert key in message and words in message


def test_devices():
    config = {"devices": "auto"}
    assert study.resolve_devices(config, cuda=False) == ["cpu"]
    assert study.resolve_devices(config, cuda=True) == ["cpu", "cuda"]
    assert study.resolve_devices({"devices": "auto", "remote_devices": True}, cuda=False) == [
        "cpu",
        "cuda",
    ]
    with pytest.raises(GGNBenchError, match="sees no CUDA device"):
        study.resolve_devices({"devices": ["cpu", "cuda"]}, cuda=False)
    assert study.resolve_devices({"devices": ["cuda"], "remote_devices": True}, cuda=False) == [
        "cuda"
    ]


@pytest.mark.parametrize("value", [1e-4, 0.05, 1.0, 10.0, 0.1234567891, 3e-8])
def test_path_numbers_round_trip(value):
    assert float(study.fmt(value)) == value


def test_paper_grid():
    config = resolved("config/config.yaml")
    devices = ["cpu"]
    tune = [
        r for p, o, d in study.combos(config, devices) for r in study.runs(config, "tune", p, o, d)
    ]
    assert len(tune) == 5 * (5 + 5 + 30 + 30)
    final = [
        r for p, o, d in study.combos(config, devices) for r in study.runs(config, "final", p, o, d)
    ]
    assert len(final) == 5 * 4 * 10
    outs = [r["out"] for r in tune + final]
    assert len(set(outs)) == len(outs)
    first = study.runs(config, "tune", "mnist_cnn", "diag_ggn_mc", "cpu")[0]
    assert (
        first["out"]
        == "results/runs/mnist_cnn/diag_ggn_mc/lr=0.0001/damping=0.0001/device=cpu/seed=0"
    )
    assert first["config"]["lr"] == 1e-4 and first["config"]["damping"] == 1e-4
    sgd = study.runs(config, "tune", "cifar10_3c3d", "sgd", "cpu")[0]
    assert sgd["config"]["momentum"] == 0.9 and sgd["config"]["damping"] is None
    assert "damping" not in sgd["out"]
    best = study.runs(config, "final", "mnist_cnn", "adam", "cuda")[0]
    assert best["out"].endswith("adam/best/device=cuda/seed=1") and best["config"]["lr"] is None


@pytest.mark.parametrize("size", [1, 4, 7, 100])
def test_chunks_partition_the_runs(size):
    config = resolved("config/quick.yaml")
    config["chunk_size"] = size
    everything = study.runs(config, "tune", "digits_cnn", "diag_ggn_exact", "cpu")
    chunks = [
        study.chunk(config, "tune", "digits_cnn", "diag_ggn_exact", "cpu", i)
        for i in range(study.n_chunks(config, "tune", "digits_cnn", "diag_ggn_exact"))
    ]
    assert [r for c in chunks for r in c] == everything
    assert all(0 < len(c) <= size for c in chunks)
