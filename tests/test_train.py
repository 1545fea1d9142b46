import json
import math
import resource
from importlib.metadata import version

import pandas as pd
import pytest
import torch
import yaml

from ggnbench import cli, defaults
from ggnbench.errors import GGNBenchError
from ggnbench.run.config import OPTIONS, RunConfig
from ggnbench.run.train import run
from ggnbench.workload.loaders import Evaluation, Holdout
from tests import reference_example
from tests.conftest import make_mnist_root, train_trace
from tests.reference_bpoptim import bpoptim_trace


def train_args(out, root, **overrides):
    args = {
        "--problem": "mnist_cnn", "--optimizer": "diag_ggn_mc", "--lr": "0.01",
        "--damping": "1.0", "--seed": "0", "--steps": "6", "--eval-every": "3",
        "--data-root": str(root), "--no-download": None, "--out": str(out), "--threads": "1",
    }  # fmt: skip
    args.update(overrides)
    argv = ["train"]
    for key, value in args.items():
        if value is False:
            continue
        argv.append(key)
        if value is not None:
            argv.append(value)
    return argv


def train_rows(out) -> pd.DataFrame:
    metrics = pd.read_csv(out / "metrics.csv")
    return metrics[metrics.split == "train"].reset_index(drop=True)


@pytest.fixture(scope="module")
def example_root(tmp_path_factory):
    """30,000 MNIST-format images: the example's 202 steps of 128 stay within one pass.

    Faint blobs in strong noise: on the default (easy) images the published variant's
    accumulated gradients drive the loss to 0 and then the logits to NaN within 202 steps.

    Returns:
        The data root (the example reads its parent's ``./data``).
    """
    folder = tmp_path_factory.mktemp("example") / "data"
    return make_mnist_root(folder, n_train=30_000, n_test=200, signal=40, noise=200)


@pytest.mark.parametrize(
    "variant,lr,keep_grad",
    [(reference_example.published, 0.01, True), (reference_example.upstream, 0.05, False)],
    ids=["published", "corrected"],
)
def test_trace_equals_the_examples_own_code_bitwise(example_root, tmp_path, variant, lr, keep_grad):
    torch.set_num_threads(1)
    losses, accuracies = variant(example_root.parent)  # the example reads ./data
    assert len(losses) == 202
    out = tmp_path / "run"
    argv = train_args(
        out, example_root, **{"--lr": str(lr), "--keep-grad": None if keep_grad else False,
                              "--steps": "202", "--eval-every": "0"}
    )  # fmt: skip
    assert cli.main(argv) == 0
    assert train_trace(out) == list(zip(losses, accuracies, strict=True))  # exact: no tolerance


@pytest.mark.parametrize("curvature", ["mc", "exact"])
def test_trace_equals_the_papers_optimizer_bitwise(tmp_path, curvature):
    # digits_cnn at batch 64: 19 batches a pass, 120 steps span 6 passes; weight decay on.
    torch.set_num_threads(1)
    hparams = {"lr": 0.05, "damping": 0.01, "weight_decay": 1e-3}
    reference = bpoptim_trace("digits_cnn", tmp_path, f"diag_ggn_{curvature}", steps=120, **hparams)
    out = tmp_path / "run"
    argv = [
        "train", "--problem", "digits_cnn", "--optimizer", f"diag_ggn_{curvature}",
        "--curvature-average", "mean", "--lr", "0.05", "--damping", "0.01",
        "--weight-decay", "1e-3", "--steps", "120", "--eval-every", "0", "--threads", "1",
        "--data-root", str(tmp_path), "--out", str(out),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    assert train_trace(out) == reference  # exact: no tolerance
    assert (
        json.loads((out / "run.json").read_text())["config"]["hparams"]["curvature_average"]
        == "mean"
    )


def test_keep_grad_changes_the_trace(mnist_root, tmp_path):
    assert cli.main(train_args(tmp_path / "a", mnist_root, **{"--keep-grad": None})) == 0
    assert cli.main(train_args(tmp_path / "b", mnist_root)) == 0
    assert not train_rows(tmp_path / "a").loss.equals(train_rows(tmp_path / "b").loss)


def test_same_command_twice_gives_identical_metrics(mnist_root, tmp_path):
    for name in ("a", "b"):
        assert cli.main(train_args(tmp_path / name, mnist_root, **{"--steps": "8"})) == 0
    a = pd.read_csv(tmp_path / "a" / "metrics.csv").drop(columns="time_s")
    b = pd.read_csv(tmp_path / "b" / "metrics.csv").drop(columns="time_s")
    pd.testing.assert_frame_equal(a, b)


def test_run_folder_contents(mnist_root, tmp_path):
    out = tmp_path / "run"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert cli.main(train_args(out, mnist_root, **{"--steps": "7"})) == 0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == ["step", "split", "loss", "accuracy", "time_s"]
    assert (metrics.split == "train").sum() == 7
    # evaluation at steps 0, 3, 6 and at the end (7), for valid and test
    for split in ("valid", "test", "train_eval"):
        assert metrics[metrics.split == split].step.tolist() == [0, 3, 6, 7]
    train = metrics[metrics.split == "train"]
    assert train.time_s.is_monotonic_increasing
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "ok"
    assert info["config"]["optimizer"] == "diag_ggn_mc" and info["config"]["lr"] == 0.01
    assert info["resolved"]["batch_size"] == 128 and info["resolved"]["total_steps"] == 7
    assert {k: info["config"][k] for k in OPTIONS} == {
        "holdout": "fixed", "evaluation": "ggnbench", "data_path": "tensor", "eval_path": "fast"
    }  # fmt: skip
    resolved = info["resolved"]["optimizer"]
    assert resolved["backend"] == "backpack" and resolved["curvature_average"] == "none"
    summary = info["summary"]
    final_valid = metrics[metrics.split == "valid"].iloc[-1]
    assert summary["final_valid_accuracy"] == pytest.approx(final_valid.accuracy)
    # time_s accumulates the step times: their median is the recorded median step
    step_times = train.time_s.diff().fillna(train.time_s.iloc[0])
    assert summary["median_step_s"] == pytest.approx(step_times.median(), rel=1e-9)
    # the run's peak is this process's peak resident size at the end of the run
    assert summary["peak_memory_kind"] == "process_max_rss"
    assert rss_before <= summary["peak_memory_bytes"] <= rss_after
    prov = info["provenance"]
    assert prov["versions"]["torch"] == version("torch")
    assert {"git_commit", "git_dirty", "cpu", "python"} <= set(prov)


def test_options_given_as_strings_are_held_as_members_and_written_as_strings():
    cfg = RunConfig("digits_cnn", "sgd", lr=0.1, steps=1, holdout="per_seed")
    assert cfg.holdout is Holdout.PER_SEED and cfg.evaluation is Evaluation.GGNBENCH
    plain = cfg.to_dict()
    assert {type(plain[k]) for k in OPTIONS} == {str} and plain["holdout"] == "per_seed"
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain  # yaml cannot write a str subclass
    assert RunConfig(**plain) == cfg  # an earlier run.json's strings read back
    with pytest.raises(GGNBenchError, match=r"^unknown holdout 'nope'; use one of \['fixed', "):
        RunConfig("digits_cnn", "sgd", lr=0.1, steps=1, holdout="nope")
    cfg.eval_path = "slow"  # set after construction: validate still refuses it
    with pytest.raises(GGNBenchError, match=r"^unknown eval_path 'slow'; use one of \['fast', "):
        cfg.validate()


def test_epochs_run_whole_passes(tmp_path):
    cfg = RunConfig("digits_cnn", "sgd", lr=0.1, hparams={"momentum": 0.9}, epochs=2, eval_every=0,
                    data_root=str(tmp_path))  # fmt: skip
    result = run(cfg)
    batches = result.resolved["train_size"] // 64  # DeepOBS: the last partial batch is dropped
    assert result.resolved["steps_per_epoch"] == batches == 19
    assert sum(r["split"] == "train" for r in result.records) == 2 * batches


def test_divergence_is_a_result(tmp_path):
    out = tmp_path / "run"
    argv = [
        "train", "--problem", "digits_cnn", "--optimizer", "sgd", "--lr", "1e6",
        "--steps", "50", "--eval-every", "0", "--out", str(out), "--data-root", str(tmp_path),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "diverged"
    assert isinstance(info["diverged_at"], int) and info["diverged_at"] < 50
    last = pd.read_csv(out / "metrics.csv").iloc[-1]
    assert not math.isfinite(last.loss)


def test_non_finite_weights_after_the_last_step_are_divergence(tmp_path):
    # One huge step: the minibatch loss before it is finite, the weights after it are not.
    cfg = RunConfig("digits_cnn", "sgd", lr=1e30, steps=3, eval_every=1, data_root=str(tmp_path))
    result = run(cfg)
    assert result.status == "diverged" and result.diverged_at == 1
    valid = [r for r in result.records if r["split"] == "valid"]
    assert math.isfinite(valid[0]["loss"]) and not math.isfinite(valid[-1]["loss"])
    assert sum(r["split"] == "train" for r in result.records) == 1  # stopped at once


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"--problem": "imagenet"}, "unknown problem 'imagenet'"),
        ({"--optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
        ({"--lr": "0"}, "lr must be a finite number > 0"),
        ({"--lr": "-0.1"}, "lr must be a finite number > 0"),
        ({"--damping": "-1"}, "damping must be a finite number >= 0"),
        ({"--steps": "0"}, "steps must be a positive integer"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_run_json(
    mnist_root, tmp_path, capsys, overrides, match
):
    out = tmp_path / "run"
    assert cli.main(train_args(out, mnist_root, **overrides)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and match in err and "\n" not in err
    assert not (out / "run.json").exists()


def test_nan_damping_is_refused_by_the_parser(mnist_root, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(train_args(tmp_path / "run", mnist_root, **{"--damping": "nan"}))
    assert exit_info.value.code == 2


def test_missing_data(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(train_args(out, tmp_path / "empty")) == 2
    err = capsys.readouterr().err
    assert "MNIST/raw" in err and "train-images-idx3-ubyte" in err
    assert not (out / "run.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda(mnist_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(train_args(out, mnist_root, **{"--device": "cuda"})) == 2
    assert "sees no CUDA device; use --device cpu" in capsys.readouterr().err
    assert not (out / "run.json").exists()


def test_unwritable_output(mnist_root, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cli.main(train_args(blocker / "run", mnist_root)) == 2
    assert "cannot write to output folder" in capsys.readouterr().err


def test_stale_run_json_is_removed_before_training(mnist_root, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("{}")
    assert cli.main(train_args(out, mnist_root, **{"--problem": "nope"})) == 2
    assert (out / "run.json").exists()  # validation fails before the folder is touched
    assert cli.main(train_args(out, mnist_root, **{"--data-root": str(tmp_path / "x")})) == 2
    assert not (out / "run.json").exists()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_matches_cpu_closely(tmp_path):
    results = {}
    for device in ("cpu", "cuda"):
        cfg = RunConfig("digits_cnn", "diag_ggn_exact", lr=0.1, hparams={"damping": 1.0}, steps=5,
                        eval_every=0, device=device, data_root=str(tmp_path))  # fmt: skip
        results[device] = [r["loss"] for r in run(cfg).records if r["split"] == "train"]
    assert results["cuda"] == pytest.approx(results["cpu"], rel=1e-3)


@pytest.mark.parametrize("optimizer", ["diag_ggn_mc", "diag_ggn_exact"])
def test_native_backend_trains_as_backpack_does(mnist_root, tmp_path, optimizer):
    """Same random numbers, same arithmetic up to rounding: the traces agree closely."""
    traces, runs = {}, {}
    for backend in ("backpack", "native"):
        out = tmp_path / backend
        argv = train_args(out, mnist_root, **{"--optimizer": optimizer, "--backend": backend,
                                              "--steps": "20", "--eval-every": "10"})  # fmt: skip
        assert cli.main(argv) == 0
        traces[backend] = train_rows(out).loss.tolist()
        runs[backend] = json.loads((out / "run.json").read_text())
    assert traces["native"] == pytest.approx(traces["backpack"], rel=1e-4)
    assert runs["native"]["config"]["hparams"]["backend"] == "native"
    assert runs["native"]["resolved"]["optimizer"]["backend"] == "native"
    assert runs["backpack"]["resolved"]["optimizer"]["backend"] == "backpack"
    final = {b: r["summary"]["final_test_accuracy"] for b, r in runs.items()}
    assert abs(final["native"] - final["backpack"]) <= 0.01


def test_backend_only_for_diag_ggn(mnist_root, tmp_path, capsys):
    argv = train_args(tmp_path / "o", mnist_root, **{"--optimizer": "adam", "--backend": "native"})
    argv.remove("--damping")
    argv.remove("1.0")
    assert cli.main(argv) == 2
    message = "optimizer 'adam' does not take backend; it takes nothing besides lr"
    assert message in capsys.readouterr().err


@pytest.fixture
def machine(monkeypatch):
    """A machine of 4 cores whose one-minute load a test sets; no note given yet."""
    from ggnbench import devices

    load = {"now": 0.0}
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: set(range(4)))
    monkeypatch.setattr(devices.os, "getloadavg", lambda: (load["now"], 9.0, 9.0))
    monkeypatch.setattr(devices, "_threads_checked", False)
    return load


@pytest.mark.parametrize(
    "load,free",
    [(0.0, 4), (2.0, 2), (1.5, 3), (1.51, 2), (3.49, 1), (10.0, defaults.MIN_FREE_CORES)],
)
def test_threads_up_to_the_free_cores_pass_one_more_is_noted_once(
    machine, monkeypatch, capsys, load, free
):
    from ggnbench import devices

    machine["now"] = load
    bound = free + defaults.SPARE_THREADS
    assert devices.note_busy_cores(bound) is None  # exactly at the bound: nothing said
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(devices, "_threads_checked", False)
    note = devices.note_busy_cores(bound + 1)  # one past it
    err = capsys.readouterr().err
    assert err == note + "\n" and len(err.splitlines()) == 1
    core = "core" if free == 1 else "cores"
    assert note.startswith(f"note: {bound + 1} torch threads on a machine with {free} free {core}")
    assert f"(4 cores, load {load:.2f})" in note and note.endswith(f"use --threads {bound}")
    assert devices.note_busy_cores(bound + 1) is None  # once per process
    assert capsys.readouterr().err == ""


def test_the_busy_cores_check_reads_the_cpu_count_without_affinity(machine, monkeypatch):
    from ggnbench import devices

    monkeypatch.delattr(devices.os, "sched_getaffinity")
    monkeypatch.setattr(devices.os, "cpu_count", lambda: 3)
    machine["now"] = 1.0
    assert devices.free_cores() == (3, 2, 1.0)
    monkeypatch.setattr(devices.os, "getloadavg", lambda: (_ for _ in ()).throw(OSError()))
    assert devices.free_cores() is None and devices.note_busy_cores(64) is None


def test_a_cpu_run_on_busy_cores_says_so_once(machine, tmp_path, capsys):
    machine["now"] = 3.0  # one free core of four
    threads = torch.get_num_threads()
    try:
        for seed in (0, 1):  # two runs in one process (a sweep): one note
            cfg = RunConfig("digits_cnn", "sgd", lr=0.1, steps=1, eval_every=0, seed=seed,
                            threads=2, data_root=str(tmp_path))  # fmt: skip
            assert run(cfg).status == "ok"
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err
    assert err.count("note: 2 torch threads on a machine with 1 free core") == 1
    assert "use --threads 1" in err


class OffsetLoss(torch.nn.Module):
    """Cross-entropy plus a constant, in training or in evaluation passes only.

    The network's logits stay what they are (finite): only the loss is pushed to +inf,
    -inf, NaN or a huge finite value, as cross-entropy itself is by a finite logit gap
    past float32's range.
    """

    def __init__(self, offset: float, during: str):
        super().__init__()
        self.offset, self.during = offset, during
        self.logits_finite: list[bool] = []

    def forward(self, output, target):
        self.logits_finite.append(bool(torch.isfinite(output).all()))
        loss = torch.nn.functional.cross_entropy(output, target)
        training = torch.is_grad_enabled()  # evaluation runs under no_grad / inference_mode
        return loss + self.offset if training == (self.during == "train") else loss


def offset_run(monkeypatch, tmp_path, offset, during):
    """Three steps of digits_cnn whose loss is offset in training or in evaluation."""
    from ggnbench.workload import problems

    loss = OffsetLoss(offset, during)
    monkeypatch.setattr(problems.Problem, "loss_fn", lambda self: loss)
    cfg = RunConfig("digits_cnn", "sgd", lr=0.1, steps=3, eval_every=0, data_root=str(tmp_path))
    result = run(cfg)
    assert loss.logits_finite and all(loss.logits_finite)  # the network's output: finite
    return result


def test_finite_float32_logits_can_give_an_infinite_cross_entropy():
    logits = torch.tensor([[3e38, -3e38]])
    assert torch.isfinite(logits).all()
    assert torch.nn.functional.cross_entropy(logits, torch.tensor([1])).item() == math.inf


@pytest.mark.parametrize("offset", [math.inf, -math.inf, math.nan], ids=["+inf", "-inf", "nan"])
def test_a_non_finite_training_loss_from_finite_logits_is_divergence(monkeypatch, tmp_path, offset):
    result = offset_run(monkeypatch, tmp_path, offset, "train")
    assert result.status == "diverged" and result.diverged_at == 0  # at once, in the loop
    (row,) = [r for r in result.records if r["split"] == "train"]
    assert not math.isfinite(row["loss"]) and 0 <= row["accuracy"] <= 1
    assert result.summary["steps_done"] == 0


@pytest.mark.parametrize("offset", [math.inf, -math.inf, math.nan], ids=["+inf", "-inf", "nan"])
def test_a_non_finite_evaluation_loss_from_finite_logits_is_divergence(
    monkeypatch, tmp_path, offset
):
    result = offset_run(monkeypatch, tmp_path, offset, "eval")
    assert result.status == "diverged" and result.diverged_at == 3  # the final evaluation
    assert result.summary["steps_done"] == 3


@pytest.mark.parametrize("offset", [1e30, -1e30])
@pytest.mark.parametrize("during", ["train", "eval"])
def test_a_huge_finite_loss_is_not_divergence(monkeypatch, tmp_path, offset, during):
    result = offset_run(monkeypatch, tmp_path, offset, during)
    assert result.status == "ok" and result.diverged_at is None
    split = "train" if during == "train" else "valid"
    losses = [r["loss"] for r in result.records if r["split"] == split]
    assert losses and all(math.isfinite(v) and abs(v) > 1e29 for v in losses)
