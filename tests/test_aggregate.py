import json
import math
import os
import tempfile

import numpy as np
import pandas as pd
import pytest

from ggnbench.errors import GGNBenchError
from ggnbench.report import aggregate
from ggnbench.run import results
from ggnbench.run.config import RunConfig
from ggnbench.run.sweep import sweep
from ggnbench.workflow.best_point import select_best

DATA_ROOT = tempfile.mkdtemp(prefix="ggnbench-test-data-")


def digits_config(**overrides) -> dict:
    base = RunConfig(
        "digits_cnn",
        "sgd",
        lr=0.1,
        hparams={"momentum": 0.9},
        steps=6,
        eval_every=3,
        data_root=DATA_ROOT,
    ).to_dict()
    base.update(overrides)
    return base


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """Three tuning runs (one diverges) and two final seeds, run through ``sweep``."""
    root = tmp_path_factory.mktemp("study")
    planned = [
        {"out": str(root / f"runs/lr={lr}"), "config": digits_config(lr=lr)}
        for lr in (0.01, 0.1, 1e6)
    ]
    sweep(planned, root / "tune.json", best=None)
    results.atomic_write_json(root / "best.json", select_best([root / "tune.json"]))
    final = [
        {"out": str(root / f"runs/best/seed={s}"), "config": digits_config(lr=None, seed=s)}
        for s in (1, 2)
    ]
    sweep(final, root / "final.json", best=root / "best.json")
    return root


def test_select_best_excludes_diverged_and_names_runner_up(tuned):
    best = json.loads((tuned / "best.json").read_text())
    runs = results.read_json(tuned / "tune.json")["runs"]
    accuracy = {
        r["config"]["lr"]: results.read_run_json(r["out"])["summary"].get("final_valid_accuracy")
        for r in runs
        if r["status"] == "ok"
    }
    assert best["diverged"] == 1 and best["grid_points"] == 3
    assert best["best"]["lr"] == max(accuracy, key=accuracy.get)
    assert best["runner_up"]["lr"] == min(accuracy, key=accuracy.get)
    assert best["best"]["final_valid_accuracy"] >= best["runner_up"]["final_valid_accuracy"]


def test_final_runs_use_the_best_point_in_its_folder(tuned):
    best = json.loads((tuned / "best.json").read_text())["best"]
    listed = results.read_json(tuned / "final.json")["runs"]
    assert [r["out"] for r in listed] == [
        str(tuned / f"runs/lr={best['lr']!r}/seed={seed}") for seed in (1, 2)
    ]  # the planned runs/best/seed=S, with the chosen point in place of "best"
    for seed, entry in zip((1, 2), listed, strict=True):
        config = results.read_run_json(entry["out"])["config"]
        assert config["lr"] == best["lr"] and config["seed"] == seed
        assert entry["point"] == {"lr": best["lr"]}
    assert not (tuned / "runs/best").exists()


def test_sweep_never_redoes_a_finished_run(tuned):
    planned = [{"out": str(tuned / "runs/lr=0.01"), "config": digits_config(lr=0.01)}]
    before = os.stat(tuned / "runs/lr=0.01/run.json").st_mtime_ns
    sweep(planned, tuned / "again.json", best=None)
    assert os.stat(tuned / "runs/lr=0.01/run.json").st_mtime_ns == before


def test_sweep_redoes_a_run_whose_configuration_changed(tuned, tmp_path):
    out = tmp_path / "run"
    sweep([{"out": str(out), "config": digits_config(steps=2)}], tmp_path / "m.json", None)
    sweep([{"out": str(out), "config": digits_config(steps=3)}], tmp_path / "m.json", None)
    assert results.read_run_json(out)["config"]["steps"] == 3


def test_runs_table_and_refusal_of_foreign_results(tuned, tmp_path):
    runs = aggregate.collect_runs([tuned / "tune.json"], [tuned / "final.json"])
    assert len(runs) == 5
    assert (runs.status == "diverged").sum() == 1
    assert set(runs.stage) == {"tune", "final"}
    manifest = results.read_json(tuned / "tune.json")
    manifest["runs"][0]["config"] = {**manifest["runs"][0]["config"], "lr": 0.5}
    results.atomic_write_json(tmp_path / "tampered.json", manifest)
    with pytest.raises(
        GGNBenchError, match=r"does not match the study's configuration \(lr: asked 0.5"
    ):
        aggregate.collect_runs([tmp_path / "tampered.json"], [])
    # Selection reads manifests through the same check: it never ranks a foreign run.
    with pytest.raises(GGNBenchError, match=r"does not match the study's configuration"):
        select_best([tmp_path / "tampered.json"])


def test_missing_run_is_refused(tmp_path):
    entry = {"out": str(tmp_path / "gone"), "config": digits_config(), "status": "ok"}
    results.atomic_write_json(tmp_path / "m.json", {"runs": [entry]})
    with pytest.raises(GGNBenchError, match=r"run\.json is missing"):
        aggregate.collect_runs([tmp_path / "m.json"], [])


def fake_runs(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for optimizer, accs in values.items():
        for seed, acc in enumerate(accs):
            rows.append(
                {"stage": "final", "problem": "p", "optimizer": optimizer, "device": "cpu",
                 "seed": seed, "status": "ok", "final_test_accuracy": acc,
                 "final_valid_accuracy": acc, "final_test_loss": 1 - acc,
                 "final_valid_loss": 1 - acc, "median_step_s": 0.01 * (1 + acc),
                 "step_s_q1": 0.01, "step_s_q3": 0.02, "median_optimizer_step_s": 0.001}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_final_metrics_statistics():
    values = [0.5, 0.6, 0.7, 0.9]
    table = aggregate.final_metrics(fake_runs({"sgd": values}))
    row = table[table.metric == "final_test_accuracy"].iloc[0]
    assert row.n == 4 and row["median"] == pytest.approx(np.median(values))
    assert row.q1 == pytest.approx(np.quantile(values, 0.25))
    assert row.q3 == pytest.approx(np.quantile(values, 0.75))
    assert row["mean"] == pytest.approx(np.mean(values))
    assert row.ci95_low < row["mean"] < row.ci95_high


def test_bootstrap_ci_matches_normal_theory():
    sample = np.random.default_rng(3).normal(loc=2.0, scale=1.0, size=400)
    low, high = aggregate.bootstrap_ci(sample)
    half = 1.96 * sample.std(ddof=1) / np.sqrt(len(sample))
    assert low == pytest.approx(sample.mean() - half, abs=0.02)
    assert high == pytest.approx(sample.mean() + half, abs=0.02)
    assert all(math.isnan(v) for v in aggregate.bootstrap_ci(np.array([1.0])))
    assert aggregate.bootstrap_ci(np.array([2.0, 2.0])) == (2.0, 2.0)


def test_time_per_step_ratio_to_sgd():
    table = aggregate.time_per_step(fake_runs({"sgd": [0.0, 0.0], "adam": [1.0, 1.0]}))
    ratio = table.set_index("optimizer").ratio_to_sgd
    assert ratio["sgd"] == pytest.approx(1.0) and ratio["adam"] == pytest.approx(2.0)


def test_time_to_target_counts_not_reached():
    curves = pd.DataFrame(
        {
            "problem": "p", "optimizer": "sgd", "device": "cpu", "split": "valid",
            "seed": [0, 0, 0, 1, 1, 1], "step": [0, 10, 20, 0, 10, 20],
            "accuracy": [0.1, 0.95, 0.97, 0.1, 0.5, 0.6], "time_s": [0, 1, 2, 0, 1.5, 3],
            "loss": 0.0,
        }
    )  # fmt: skip
    row = aggregate.time_to_target(curves, {"p": 0.9}).iloc[0]
    assert (row.runs, row.reached, row.not_reached) == (2, 1, 1)
    assert row.median_steps == 10 and row.median_seconds == 1


def test_tables_in_three_formats(tmp_path):
    from ggnbench.report.tables import write_table

    paths = write_table(pd.DataFrame({"a": [1.23456789], "b": ["x_y"]}), tmp_path, "t")
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex"]
    assert "1.235" in (tmp_path / "t.md").read_text()
    assert "x\\_y" in (tmp_path / "t.tex").read_text()
    assert pd.read_csv(tmp_path / "t.csv").a[0] == 1.23456789
