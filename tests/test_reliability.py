"""What the README's Reliability section guarantees, one test per guarantee."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ggnbench import cli
from ggnbench.errors import GGNBenchError
from ggnbench.report import aggregate
from ggnbench.run import results
from ggnbench.run.sweep import sweep
from ggnbench.workflow import chunks, heal, lock, paths, repair
from ggnbench.workflow import study as plan
from ggnbench.workflow.configcheck import check_file, config_error, load_study, yaml_error
from ggnbench.workload.data import load_split
from tests.conftest import hold_lock, make_mnist_root
from tests.test_aggregate import DATA_ROOT
from tests.test_aggregate import digits_config as aggregate_digits_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


def digits_config(**overrides) -> dict:
    """A short digits run (three steps, evaluated at the end)."""
    return aggregate_digits_config(**{"steps": 3, "eval_every": 0, **overrides})


@pytest.fixture
def study(tmp_path):
    """Two finished runs listed in one manifest, a best.json and a runs table."""
    planned = [
        {"out": str(tmp_path / f"runs/lr={lr}"), "config": digits_config(lr=lr)}
        for lr in (0.01, 0.1)
    ]
    sweep(planned, tmp_path / "tune.json", best=None)
    (tmp_path / "best.json").write_text("{}")
    (tmp_path / "runs.csv").write_text("table\n")
    return tmp_path


def checks(root: Path) -> list[heal.Check]:
    table = [str(root / "runs.csv")]
    best = str(root / "best.json")
    return [
        heal.Check(str(root / "tune.json"), heal.manifest_problem, [best, *table]),
        heal.Check(best, heal.json_problem, table),
    ]


def test_intact_results_are_left_alone(study):
    assert heal.heal(checks(study)) == []
    assert (study / "tune.json").exists() and (study / "runs.csv").exists()


@pytest.mark.parametrize(
    "damage,reason",
    [
        (lambda run: (run / "run.json").unlink(), "run.json is missing"),
        (lambda run: (run / "run.json").write_text('{"config": '), "run.json is not valid JSON"),
        (lambda run: (run / "metrics.csv").write_text("step\n"), "metrics.csv differs"),
        (lambda run: (run / "metrics.csv").unlink(), "metrics.csv is missing"),
    ],
    ids=["deleted", "garbled", "truncated-metrics", "deleted-metrics"],
)
def test_a_damaged_run_removes_its_manifest_and_what_was_derived(study, damage, reason):
    damage(study / "runs/lr=0.1")
    [message] = heal.heal(checks(study), remove=False)
    assert message.startswith(
        f"would redo {study / 'tune.json'} (run {study / 'runs/lr=0.1'}: {reason}"
    )
    assert (study / "tune.json").exists()  # a dry run removes nothing
    messages = heal.heal(checks(study))
    assert len(messages) == 1 and messages[0].startswith("redoing")
    for name in ("tune.json", "best.json", "runs.csv"):
        assert not (study / name).exists()
    # The job's rerun redoes exactly the damaged run.
    intact = study / "runs/lr=0.01/run.json"
    before = intact.stat().st_mtime_ns
    planned = [
        {"out": str(study / f"runs/lr={lr}"), "config": digits_config(lr=lr)} for lr in (0.01, 0.1)
    ]
    sweep(planned, study / "tune.json", best=None)
    assert intact.stat().st_mtime_ns == before
    assert results.run_damage(study / "runs/lr=0.1") is None


def test_a_missing_manifest_is_work_not_yet_done(study):
    # e.g. another study's runs table in the same results folder: nothing is removed
    (study / "tune.json").unlink()
    assert heal.heal(checks(study)) == []
    assert (study / "runs.csv").exists()


def test_a_lost_job_output_whose_table_exists_is_redone(study):
    run_json = study / "runs/lr=0.1/run.json"
    lost = heal.Check(str(run_json), heal.run_problem, [str(study / "runs.csv")],
                      lost_if_missing=True)  # fmt: skip
    run_json.unlink()
    assert heal.heal([lost], remove=False) == [f"would redo {run_json} (missing)"]
    assert heal.heal([lost]) == [f"redoing {run_json} (missing)"]
    assert not (study / "runs.csv").exists()
    assert heal.heal([lost]) == []  # nothing derived left: work not yet done


def test_garbled_manifest_and_best_json(study):
    (study / "best.json").write_text("{")
    assert heal.heal(checks(study)) == [f"redoing {study / 'best.json'} (not valid JSON)"]
    assert not (study / "runs.csv").exists() and (study / "tune.json").exists()
    (study / "tune.json").write_text("[")
    assert heal.heal(checks(study)) == [f"redoing {study / 'tune.json'} (not a valid manifest)"]


def test_aggregation_refuses_an_edited_metrics_file(study):
    metrics = study / "runs/lr=0.1/metrics.csv"
    metrics.write_text(metrics.read_text().replace("0.", "9.", 1))
    with pytest.raises(GGNBenchError, match=r"metrics\.csv differs.*rerun the same command"):
        aggregate.collect_runs([study / "tune.json"], [])


def test_run_json_records_size_and_checksum_of_metrics(study):
    info = results.read_run_json(study / "runs/lr=0.1")
    raw = (study / "runs/lr=0.1/metrics.csv").read_bytes()
    assert info["files"]["metrics.csv"] == results.file_digest(raw.decode())
    assert info["files"]["metrics.csv"]["bytes"] == len(raw)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_result_files_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        results.atomic_write_text(tmp_path / "a.txt", "x")
        results.write_run(tmp_path / "run", [], {"config": {}, "status": "ok"})
    finally:
        os.umask(old)
    for path in (tmp_path / "a.txt", tmp_path / "run/metrics.csv", tmp_path / "run/run.json"):
        assert path.stat().st_mode & 0o777 == mode


def test_run_json_never_exists_without_complete_metrics(tmp_path, monkeypatch):
    real = results.atomic_write_text

    def failing(path, text):
        if Path(path).name == "metrics.csv":
            real(path, text[: len(text) // 2])  # what a crash mid-write could leave
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, text)

    monkeypatch.setattr(results, "atomic_write_text", failing)
    with pytest.raises(OSError):
        results.write_run(tmp_path, [{"step": 0, "split": "train"}], {"config": {}, "status": "ok"})
    assert not (tmp_path / "run.json").exists()


def test_writes_go_through_a_temporary_file_and_a_rename(tmp_path, monkeypatch):
    renames = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append((a, b)), real(a, b)))
    results.write_run(tmp_path, [], {"config": {}, "status": "ok"})
    assert [Path(b).name for _, b in renames] == ["metrics.csv", "run.json"]
    for src, dst in renames:
        assert Path(src).parent == Path(dst).parent and Path(src).name.endswith(".tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv", "run.json"]


def test_truncated_idx_file_is_reported_as_damaged(tmp_path):
    root = make_mnist_root(tmp_path, n_train=50, n_test=20)
    images = root / "MNIST/raw/train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(GGNBenchError) as err:
        load_split("mnist", root, train=True, transform=None, download=False)
    message = str(err.value)
    assert "is damaged" in message and str(images) in message and "delete it and" in message
    assert "missing" not in message and "\n" not in message


def test_damaged_cifar_batch_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(GGNBenchError, match=r"data_batch_1 \(its MD5 checksum"):
        load_split("cifar10", tmp_path, train=True, transform=None, download=False)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_fail_config_validation(value):
    config = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    config["optimizers"]["sgd"]["lr"] = [0.1, value]
    message = config_error(config, SCHEMA)
    assert message is not None and "'optimizers/sgd/lr/1'" in message and "finite" in message


def test_yaml_syntax_error_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "study.yaml"
    bad.write_text("results: results\noptimizers:\n  sgd: {lr: [0.1\nfinal_seeds: [1]\n")
    message = yaml_error(bad)
    assert message.startswith(f"error: {bad}, line 4, column") and "not valid YAML" in message
    assert check_file(bad, SCHEMA) == message
    assert cli.main(["check-config", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == message
    assert cli.main(["check-config", str(ROOT / "config/quick.yaml")]) == 0


def train(tmp_path, *extra):
    return ["train", "--problem", "digits_cnn", "--steps", "2", "--eval-every", "0",
            "--data-root", DATA_ROOT, "--out", str(tmp_path / "run"), *extra]  # fmt: skip


def one_error_line(capsys) -> str:
    """The error line, which must be the only one and the last (progress lines come before)."""
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1]
    return errors[0]


def test_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path, monkeypatch, capsys):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results.os, "fsync", no_space)
    assert cli.main(train(tmp_path, "--optimizer", "sgd", "--lr", "0.1")) == 2
    err = one_error_line(capsys)
    assert f"{tmp_path / 'run' / 'metrics.csv'}: No space left on device" in err
    assert list((tmp_path / "run").iterdir()) == []  # no run.json, no temporary file


@pytest.mark.parametrize(
    "args,match",
    [
        (["--optimizer", "sgd", "--lr", "0.1", "--damping", "1"], "'sgd' does not take damping"),
        (["--optimizer", "adam", "--lr", "0.1", "--momentum", "0.9"], "'adam' does not take"),
        (["--optimizer", "diag_ggn_mc", "--lr", "0.1", "--damping", "1", "--momentum", "0.9"],
         "'diag_ggn_mc' does not take momentum"),
        (["--optimizer", "sgd", "--lr", "0.1", "--batch-size", "5000"],
         "batch size 5000 exceeds the 1247 training examples"),
    ],
)  # fmt: skip
def test_arguments_an_optimizer_or_problem_cannot_use_are_refused(tmp_path, capsys, args, match):
    assert cli.main(train(tmp_path, *args)) == 2
    assert match in one_error_line(capsys)
    assert not (tmp_path / "run" / "run.json").exists()


def test_finished_run_with_another_configuration_is_not_replaced(tmp_path, capsys):
    assert cli.main(train(tmp_path, "--optimizer", "sgd", "--lr", "0.1")) == 0
    first = (tmp_path / "run/run.json").read_text()
    assert cli.main(train(tmp_path, "--optimizer", "sgd", "--lr", "0.2")) == 2
    assert "holds a finished run with another configuration (lr 0.1 (now 0.2))" in one_error_line(
        capsys
    )
    assert (tmp_path / "run/run.json").read_text() == first
    assert cli.main(train(tmp_path, "--optimizer", "sgd", "--lr", "0.1")) == 0  # same: reused
    assert cli.main(train(tmp_path, "--optimizer", "sgd", "--lr", "0.2", "--overwrite")) == 0
    assert json.loads((tmp_path / "run/run.json").read_text())["config"]["lr"] == 0.2


def test_lock_refuses_a_second_holder_and_dies_with_its_process(tmp_path):
    holder = hold_lock(tmp_path / "results")
    try:
        probe = [sys.executable, "-c", "import sys; from ggnbench.workflow import lock; "
                 "lock.acquire(sys.argv[1])", str(tmp_path / "results")]  # fmt: skip
        busy = subprocess.run(probe, capture_output=True, text=True)
        assert busy.returncode != 0
        assert (
            f"(pid {holder.pid} on " in busy.stderr
            and "is running on results folder" in busy.stderr
        )
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs
        holder.wait()
    assert subprocess.run(probe, capture_output=True).returncode == 0


def test_unwritable_results_folder_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(GGNBenchError, match=r"cannot write to results folder .*Not a directory"):
        lock.acquire(tmp_path / "file" / "results")


@pytest.mark.parametrize("sections", [True, False], ids=["with-references", "study-only"])
def test_a_rerun_checks_every_result_it_would_otherwise_trust(sections):
    config = load_study(ROOT / "tests" / "workflow" / "tiny.yaml", SCHEMA)
    for section in ("seed_example", "epoch_bench"):
        config[section]["enabled"] = sections
    found = {check.path: check for check in repair.checks(config, ["cpu"])}
    runs_table = f"{config['results']}/tables/runs.csv"
    expected = set(chunks.manifests(config, ["cpu"], "final"))
    for p, o, d in plan.tuned_combos(config, ["cpu"]):
        best = paths.best_path(config, p, o, d)
        tune = {paths.manifest_path(config, "tune", p, o, d, i)
                for i in range(chunks.n_chunks(config, "tune", p, o))}  # fmt: skip
        assert all(found[m].derived == [best, runs_table] for m in tune)
        assert found[best].derived == [runs_table]
        expected |= {best, *tune}
    references = {f"{config['results']}/bench/epoch/cpu.csv"} | {
        f"{config['results']}/seed_example/{v}/run.json" for v in config["seed_example"]["variants"]
    }
    assert set(found) == (expected | references if sections else expected)
    assert all(found[f].lost_if_missing for f in found if f.endswith("/run.json"))


def test_a_run_folder_of_the_earlier_format_stays_valid(tmp_path):
    # Before every hyperparameter moved into config.hparams, run.json and manifests kept
    # the built-in optimizers' as fields of their own (None when not given).
    from ggnbench.run.config import RunConfig
    from ggnbench.run.sweep import finished, train_to_folder

    hparams = {"damping": 0.5, "curvature_average": "mean"}
    cfg = RunConfig("digits_cnn", "diag_ggn_mc", 0.1, hparams, steps=2, eval_every=0,
                    data_root=DATA_ROOT, download=False, threads=1)  # fmt: skip
    out = tmp_path / "run"
    train_to_folder(cfg, out)
    path = out / results.RUN_JSON
    info = json.loads(path.read_text())
    current = info["config"]
    earlier = {k: v for k, v in current.items() if k != "hparams"}
    earlier |= dict.fromkeys(results.LEGACY_HYPERPARAMETERS) | current["hparams"]
    earlier["hparams"] = None
    path.write_text(json.dumps({**info, "config": earlier}))
    assert results.read_run_json(out)["config"] == current
    assert finished(out, cfg.to_dict())  # a rerun keeps it
    manifest = tmp_path / "tune.json"
    manifest.write_text(
        json.dumps({"runs": [{"out": str(out), "config": earlier, "status": "ok"}]})
    )
    [entry] = results.manifest_runs([manifest])
    assert entry["config"] == current and entry["info"]["config"] == current
    row = aggregate.collect_runs([manifest], []).iloc[0]
    assert row.damping == 0.5 and row.momentum is None and row.hparams is None
