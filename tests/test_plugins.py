"""Optimizers named by import path: loading, checks, the plan, training, provenance."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ggnbench.errors import GGNBenchError
from ggnbench.optimizers import plugins
from ggnbench.run.config import RunConfig
from ggnbench.run.sweep import apply_best, train_to_folder
from ggnbench.run.train import run
from ggnbench.workflow import paths, plan_check, study
from ggnbench.workload.loaders import make_loaders
from ggnbench.workload.problems import get_problem
from tests.conftest import DEVICES, USER_OPTIMIZER

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from momentum_diag_ggn import MomentumDiagGGN  # noqa: E402


@pytest.fixture(scope="session")
def user_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("user_code")
    (folder / "user_optim.py").write_text(USER_OPTIMIZER)
    (folder / "broken_optim.py").write_text("raise RuntimeError('half-written module')\n")
    return folder


@pytest.fixture
def user_module(user_dir, monkeypatch) -> Path:
    """``user_optim`` importable through sys.path, as PYTHONPATH makes it."""
    monkeypatch.syspath_prepend(str(user_dir))
    return user_dir / "user_optim.py"


@pytest.mark.parametrize(
    "path,words",
    [
        ("user_optim.SignSGD", "is not an import path; write 'package.module:Class'"),
        ("no_such_module_x:SignSGD", "module 'no_such_module_x' is not importable"),
        ("user_optim:SignSDG", "module 'user_optim' has no 'SignSDG'"),
        ("user_optim:NotAnOptimizer", "is not a torch.optim.Optimizer subclass"),
        ("user_optim:NOT_A_CLASS", "is not a torch.optim.Optimizer subclass"),
        ("broken_optim:X", "importing 'broken_optim' failed with RuntimeError"),
    ],
)
def test_a_bad_class_is_one_line(user_module, path, words):
    with pytest.raises(GGNBenchError) as err:
        plugins.load_class(path)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_hyperparameters_are_checked_against_the_constructor(user_module):
    sign = plugins.load_class("user_optim:SignSGD")
    plugins.check_hparams("user_optim:SignSGD", sign, ["lr", "scale"])
    with pytest.raises(GGNBenchError, match="does not take scael; its constructor takes lr, scale"):
        plugins.check_hparams("user_optim:SignSGD", sign, ["lr", "scael"])
    needs = plugins.load_class("user_optim:NeedsBeta")
    with pytest.raises(GGNBenchError, match="needs beta; give it"):
        plugins.check_hparams("user_optim:NeedsBeta", needs, ["lr"])
    anything = plugins.load_class("user_optim:TakesAnything")
    plugins.check_hparams("user_optim:TakesAnything", anything, ["lr", "whatever"])


def test_closure_is_taken_when_declared_or_required(user_module):
    w = [torch.zeros(2, requires_grad=True)]
    assert plugins.takes_closure(torch.optim.LBFGS(w))  # its step requires a closure
    assert not plugins.takes_closure(torch.optim.SGD(w, lr=0.1))
    assert plugins.takes_closure(plugins.load_class("user_optim:IgnoresClosure")(w, lr=0.1))
    assert isinstance(MomentumDiagGGN(w, lr=0.1, damping=1.0), plugins.UsesBackpack)
    assert not isinstance(torch.optim.SGD(w, lr=0.1), plugins.UsesBackpack)


def study_config(**entry) -> dict:
    config = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    config["optimizers"]["sign"] = entry
    config["problems"]["digits_cnn"]["eval_every"] = 4
    return config


def test_lists_are_axes_and_scalars_fixed(user_module):
    config = study_config(**{"class": "user_optim:SignSGD", "lr": [0.1, 0.01],
                             "scale": [1.0, 0.5]})  # fmt: skip
    plan_check.check_plan(config)
    grid = study.hparam_grid(config, "digits_cnn", "sign")
    assert grid == [{"lr": a, "scale": s} for a in (0.1, 0.01) for s in (1.0, 0.5)]
    tune = study.runs(config, "tune", "digits_cnn", "sign", "cpu")
    assert tune[1]["out"] == "results/runs/digits_cnn/sign/lr=0.1/scale=0.5/device=cpu/seed=0"
    assert tune[1]["config"]["hparams"] == {"scale": 0.5}
    assert tune[1]["config"]["optimizer_class"] == "user_optim:SignSGD"
    assert (
        tune[1]["config"]["optimizer"] == "sign" and "damping" not in tune[1]["config"]["hparams"]
    )

    config["optimizers"]["sign"]["scale"] = 0.5  # now fixed
    final = study.runs(config, "final", "digits_cnn", "sign", "cpu")[0]
    assert final["config"]["hparams"] == {"scale": 0.5} and final["config"]["lr"] is None
    best = {"best": {"lr": 0.01, "damping": None, "point": {"lr": 0.01}}}
    assert apply_best(final["config"], best)["hparams"] == {"scale": 0.5}
    grid_best = {"best": {"lr": 0.1, "damping": None, "point": {"lr": 0.1, "scale": 2.0}}}
    filled = apply_best(final["config"], grid_best)
    assert filled["lr"] == 0.1 and filled["hparams"] == {"scale": 2.0}
    # best.json stores the point with sorted keys; the folder still names lr first
    assert paths.chosen_dir(final["out"], {"scale": 2.0, "lr": 0.1, "beta": 0.5}) == (
        "results/runs/digits_cnn/sign/lr=0.1/beta=0.5/scale=2.0/device=cpu/seed=1"
    )


def test_a_built_in_under_another_name(user_module):
    config = study_config(**{"class": "diag_ggn_mc", "lr": [0.1], "damping": [1.0],
                             "backend": "native"})  # fmt: skip
    plan_check.check_plan(config)
    run_ = study.runs(config, "tune", "digits_cnn", "sign", "cpu")[0]
    assert run_["out"].endswith("sign/lr=0.1/damping=1.0/device=cpu/seed=0")
    assert run_["config"]["hparams"]["backend"] == "native"
    assert run_["config"]["optimizer_class"] == "diag_ggn_mc"
    built_in = study.runs(config, "tune", "digits_cnn", "diag_ggn_mc", "cpu")[0]["config"]
    assert "optimizer_class" not in built_in and set(built_in["hparams"]) == {"damping"}


@pytest.mark.parametrize(
    "entry,words",
    [
        ({"class": "user_optim:SignSDG", "lr": [0.1]}, "has no 'SignSDG'"),
        ({"class": "nowhere_x:SignSGD", "lr": [0.1]}, "'nowhere_x' is not importable"),
        ({"class": "user_optim:SignSGD", "lr": [0.1], "scael": 1.0}, "does not take scael"),
        ({"class": "user_optim:NeedsBeta", "lr": [0.1]}, "needs beta"),
        ({"class": "user_optim:SignSGD", "lr": [0.1], "scale": ["a/b"]}, "cannot name a folder"),
        ({"class": "diag_ggn_mc", "lr": [0.1], "damping": [1.0], "scale": 2},
         "'diag_ggn_mc' does not take scale"),
        ({"class": "sgd", "lr": [0.1], "momentum": -1.0}, "momentum must be a finite number >= 0"),
    ],
)  # fmt: skip
def test_a_bad_entry_stops_the_plan_with_one_line(user_module, entry, words):
    with pytest.raises(GGNBenchError) as err:
        plan_check.check_plan(study_config(**entry))
    assert words in str(err.value) and "\n" not in str(err.value)


def records(**fields) -> list[tuple]:
    fields = {"problem": "digits_cnn", "steps": 6, "eval_every": 3, "seed": 3,
              "download": False, **fields}  # fmt: skip
    result = run(RunConfig(**fields))
    return [(r["step"], r["split"], r["loss"], r["accuracy"]) for r in result.records]


@pytest.mark.parametrize("weight_decay", [None, 0.01])
def test_torch_sgd_by_import_path_equals_the_built_in(weight_decay):
    built_in = records(optimizer="sgd", lr=0.1, hparams={"momentum": 0.5},
                       weight_decay=weight_decay)  # fmt: skip
    by_path = records(optimizer="plain_sgd", optimizer_class="torch.optim:SGD", lr=0.1,
                      hparams={"momentum": 0.5}, weight_decay=weight_decay)  # fmt: skip
    assert by_path == built_in
    other = records(optimizer="plain_sgd", optimizer_class="torch.optim:SGD", lr=0.1,
                    hparams={"momentum": 0.0}, weight_decay=weight_decay)  # fmt: skip
    assert other != built_in


def same_trace(ours: list[tuple], theirs: list[tuple], exact: bool) -> None:
    """Equal records (bitwise where ``exact``; CUDA kernels need not be deterministic)."""
    if exact:
        assert ours == theirs
        return
    assert [r[:2] for r in ours] == [r[:2] for r in theirs]
    torch.testing.assert_close(
        torch.tensor([r[2:] for r in ours]), torch.tensor([r[2:] for r in theirs]),
        rtol=1e-4, atol=1e-5,
    )  # fmt: skip


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("curvature", ["mc", "exact"])
def test_the_example_without_momentum_is_diag_ggn_step_for_step(curvature, device):
    # Its step reads BackPACK's diagonal: only backpack_extensions() tells ggnbench to
    # extend the model and enter backpack(...); the MC samples come from the same RNG.
    built_in = records(optimizer=f"diag_ggn_{curvature}", lr=0.1, hparams={"damping": 0.5},
                       device=device)  # fmt: skip
    example = records(optimizer="mom", optimizer_class="momentum_diag_ggn:MomentumDiagGGN",
                      lr=0.1, hparams={"damping": 0.5, "momentum": 0.0,
                                       "curvature": curvature}, device=device)  # fmt: skip
    same_trace(example, built_in, exact=device == "cpu")
    with_momentum = records(optimizer="mom", optimizer_class="momentum_diag_ggn:MomentumDiagGGN",
                            lr=0.1, hparams={"damping": 0.5, "momentum": 0.9,
                                             "curvature": curvature}, device=device)  # fmt: skip
    same_trace(with_momentum[:3], built_in[:3], exact=device == "cpu")  # before any step
    assert with_momentum[-1][2] != built_in[-1][2]


def test_the_example_step_in_closed_form():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = MomentumDiagGGN([{"params": [p], "weight_decay": 0.1}], lr=0.5, damping=0.2,
                          momentum=0.9)  # fmt: skip
    grads = [torch.tensor([0.3, -0.4]), torch.tensor([-0.1, 0.2])]
    diags = [torch.tensor([2.0, 0.5]), torch.tensor([1.0, 1.5])]
    expected, buffer = p.detach().clone(), None
    for g, d in zip(grads, diags, strict=True):
        p.grad, p.diag_ggn_mc = g, d
        u = (g + 0.1 * expected) / (d + 0.2 + 0.1)
        buffer = u if buffer is None else 0.9 * buffer + u
        expected = expected - 0.5 * buffer
        opt.step()
        torch.testing.assert_close(p.detach(), expected, rtol=1e-6, atol=1e-7)


def test_a_closure_optimizer_trains_as_its_own_loop():
    cfg = RunConfig(problem="digits_cnn", optimizer="lbfgs", optimizer_class="torch.optim:LBFGS",
                    lr=0.5, hparams={"max_iter": 3}, steps=5, eval_every=0, seed=2,
                    download=False)  # fmt: skip
    ours = [r["loss"] for r in run(cfg).records if r["split"] == "train"]

    # The reference: LBFGS's documented loop, in ggnbench's order of random-number use.
    problem = get_problem("digits_cnn")
    torch.manual_seed(2)
    loaders = make_loaders(problem, "data", None, 1000, False, holdout="fixed", data_path="pil")
    model, loss_fn = problem.model_fn(), problem.loss_fn()
    optimizer = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=3)
    losses = []
    for x, y in loaders.train:
        if len(losses) == 5:
            break

        def closure(x=x, y=y):
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss

        losses.append(optimizer.step(closure).item())
    assert ours == losses


def test_a_step_that_never_calls_its_closure_is_one_line(user_module):
    cfg = RunConfig(problem="digits_cnn", optimizer="x", lr=0.1, hparams={}, steps=2,
                    optimizer_class="user_optim:IgnoresClosure", download=False)  # fmt: skip
    with pytest.raises(GGNBenchError, match="did not call the closure"):
        run(cfg)


def test_run_json_names_the_class_and_where_it_came_from(user_module, tmp_path):
    cfg = RunConfig(problem="digits_cnn", optimizer="sign", optimizer_class="user_optim:SignSGD",
                    lr=0.01, hparams={"scale": 0.5}, steps=2, download=False)  # fmt: skip
    info = train_to_folder(cfg, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["config"]["optimizer"] == "sign" and saved["config"]["hparams"] == {"scale": 0.5}
    origin = saved["resolved"]["optimizer_origin"]
    assert origin == info["resolved"]["optimizer_origin"]
    assert origin["class"] == "user_optim:SignSGD" and origin["distribution"] is None
    assert Path(origin["module_file"]) == user_module
    assert origin["module_sha256"] == hashlib.sha256(user_module.read_bytes()).hexdigest()
    assert saved["resolved"]["optimizer"] == {"lr": 0.01, "scale": 0.5}
    torch_origin = plugins.origin("torch.optim:SGD")
    assert torch_origin["distribution"] == "torch"
    assert torch_origin["version"].split("+")[0] == torch.__version__.split("+")[0]


def cli(*args, cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'src'}:{pythonpath}"}
    return subprocess.run([sys.executable, "-m", "ggnbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_train_command_with_a_class_and_hparams(user_dir, tmp_path):
    common = ["train", "--problem", "digits_cnn", "--optimizer-class", "user_optim:SignSGD",
              "--lr", "0.01", "--steps", "3", "--no-download"]  # fmt: skip
    done = cli(*common, "--hparam", "scale=0.5", "--out", "run", cwd=tmp_path, pythonpath=user_dir)
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "run" / "run.json").read_text())["config"]
    assert config["optimizer"] == "SignSGD" and config["hparams"] == {"scale": 0.5}
    bad = cli(*common, "--hparam", "scael=0.5", "--out", "bad", cwd=tmp_path, pythonpath=user_dir)
    assert bad.returncode != 0 and not (tmp_path / "bad" / "run.json").exists()
    assert bad.stderr.strip().splitlines() == [
        "error: optimizer class 'user_optim:SignSGD' does not take scael; its constructor "
        "takes lr, scale"
    ]
    unfound = cli(*common, "--out", "x", cwd=tmp_path, pythonpath=tmp_path)
    assert "module 'user_optim' is not importable" in unfound.stderr
    assert len(unfound.stderr.strip().splitlines()) == 1
    # A built-in's hyperparameter by --hparam is its option: one mapping either way.
    sgd = [
        "train",
        "--problem",
        "digits_cnn",
        "--optimizer",
        "sgd",
        "--lr",
        "0.1",
        "--hparam",
        "momentum=0.9",
        "--steps",
        "1",
        "--no-download",
        "--threads",
        "1",
    ]
    built_in = cli(*sgd, "--out", "y", cwd=tmp_path, pythonpath=tmp_path)
    assert built_in.returncode == 0, built_in.stderr
    config = json.loads((tmp_path / "y" / "run.json").read_text())["config"]
    assert config["hparams"] == {"momentum": 0.9}
    twice = cli(*sgd, "--momentum", "0.9", "--out", "z", cwd=tmp_path, pythonpath=tmp_path)
    assert twice.stderr.strip().splitlines() == [
        "error: momentum is given twice (its option and --hparam); give it once"
    ]


def test_check_config_imports_the_classes(user_dir, tmp_path):
    config = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    config["optimizers"]["sign"] = {"class": "user_optim:SignSGD", "lr": [0.1], "scale": 0.5}
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(config))
    done = cli("check-config", str(good), cwd=tmp_path, pythonpath=user_dir)
    assert done.returncode == 0 and done.stdout.strip() == f"{good}: valid", done.stderr
    config["optimizers"]["sign"]["scael"] = 1.0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    done = cli("check-config", str(bad), cwd=tmp_path, pythonpath=user_dir)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"error: {bad}: optimizers/sign on digits_cnn: optimizer class 'user_optim:SignSGD' "
        "does not take scael; its constructor takes lr, scale"
    ]
