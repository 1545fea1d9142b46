"""The end-to-end benchmark: its plan from a study, its measurements, its extrapolations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from ggnbench.errors import GGNBenchError
from ggnbench.workflow import epoch_cost, plan_check

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


def config_of(text: str) -> dict:
    config = yaml.safe_load(text)
    validate(config, str(SCHEMA))
    return config


STUDY = """
results: {results}
data_root: {data}
download: false
devices: [cpu]
final_seeds: [1, 2, 3]
problems:
  digits_cnn: {{epochs: 4, eval_every: epoch, target_accuracy: 0.5}}
optimizers:
  sgd: {{lr: [0.1, 0.2], momentum: 0.9}}
  diag_ggn_mc: {{lr: [0.05], damping: [0.1, 1.0], tune: true}}
  adam: {{lr: [1.0e-3], tune: false}}
epoch_bench: {{steps: 3, repeats: 2, optimizers: [sgd, diag_ggn_mc]}}
"""


@pytest.fixture
def config(tmp_path) -> dict:
    return config_of(STUDY.format(results=tmp_path / "results", data=tmp_path / "data"))


def test_the_plan_times_the_selected_pairs_at_a_few_steps_with_one_evaluation(config):
    cases = epoch_cost.plan(config, "cpu")
    assert [c["run"]["optimizer"] for c in cases] == ["sgd", "diag_ggn_mc"]  # adam not selected
    for case in cases:
        run = case["run"]
        assert (run["steps"], run["epochs"], run["eval_every"]) == (3, None, 0)
        assert case["study"]["epochs"] == 4 and case["study"]["eval_every"] == "epoch"
    assert cases[0]["study"]["tune_runs"] == 2 and cases[1]["study"]["tune_runs"] == 2
    assert all(c["study"]["final_runs"] == 3 for c in cases)
    assert cases[0]["run"]["lr"] == 0.1  # the grid's first point
    assert cases[1]["run"]["hparams"]["damping"] == 0.1


def test_an_unknown_timed_optimizer_is_named(config):
    config["epoch_bench"]["optimizers"] = ["sgd", "lbfgs"]
    with pytest.raises(GGNBenchError, match="epoch_bench/optimizers: lbfgs not among"):
        plan_check.check_plan(config)


def test_a_real_run_has_its_steps_and_evaluations():
    by_epoch = {"steps": None, "epochs": 100, "eval_every": "epoch"}
    assert epoch_cost._run_length(by_epoch, 390) == (39_000, 101)
    by_steps = {"steps": 600, "epochs": None, "eval_every": 50}
    assert epoch_cost._run_length(by_steps, 23) == (600, 13)
    assert epoch_cost._run_length({**by_steps, "eval_every": 0}, 23) == (600, 1)
    assert epoch_cost._run_length({**by_steps, "eval_every": 64}, 23) == (600, 11)


def raw_rows() -> pd.DataFrame:
    """Two rounds of two paths on one case, with round numbers a closed form can check."""
    rows = []
    for repeat, (old_step, new_step) in enumerate([(0.02, 0.01), (0.03, 0.01)]):
        paths = (
            ("pil/exact", old_step, 0.015, 4.0, 2.0),
            ("tensor/fast", new_step, 0.001, 1.0, 0.5),
        )
        for path, step, data, ev, setup in paths:
            rows.append({"problem": "fmnist_2c2d", "optimizer": "sgd", "device": "cpu",
                         "path": path, "repeat": repeat, "status": "ok", "steps": 10,
                         "step_s": step, "step_s_q1": step, "step_s_q3": step, "data_s": data,
                         "optimizer_s": 0.001, "eval_s": ev, "setup_s": setup,
                         "steps_per_epoch": 390, "run_steps": 39_000, "run_evaluations": 101,
                         "tune_runs": 0, "final_runs": 10, "threads": 1})  # fmt: skip
    return pd.DataFrame(rows)


def test_epoch_run_and_panel_costs_follow_from_the_parts():
    raw = raw_rows()
    cost = epoch_cost.cost_table(raw).set_index("path")
    # an epoch: 390 steps and 101/100 evaluations; medians over the two rounds
    old_epochs = [390 * s + 1.01 * 4.0 for s in (0.02, 0.03)]
    assert cost.loc["pil/exact", "epoch_s"] == pytest.approx(sum(old_epochs) / 2)
    assert cost.loc["tensor/fast", "epoch_s"] == pytest.approx(390 * 0.01 + 1.01 * 1.0)
    new_run = 39_000 * 0.01 + 101 * 1.0 + 0.5
    assert cost.loc["tensor/fast", "run_h"] == pytest.approx(new_run / 3600)
    assert cost.loc["tensor/fast", "step_ms"] == pytest.approx(10.0)
    # the old path's run: steps' compute 39,000 x (0.02..0.03 - 0.015) vs data 39,000 x 0.015
    assert cost.loc["pil/exact", "dominant"] == "data"
    assert cost.loc["tensor/fast", "dominant"] == "step"
    speed = epoch_cost.speedup_table(raw).iloc[0]
    paired = [(390 * 0.01 + 1.01) / e for e in old_epochs]  # round by round
    assert speed.epoch_ratio == pytest.approx(sum(paired) / 2)
    assert speed.eval_ratio == pytest.approx(0.25) and speed.setup_ratio == pytest.approx(0.25)
    panel = epoch_cost.panel_table(raw).set_index(["problem", "path"])
    assert panel.loc[("fmnist_2c2d", "tensor/fast"), "final_h"] == pytest.approx(
        10 * new_run / 3600
    )
    assert panel.loc[("all", "tensor/fast"), "study_h"] == pytest.approx(10 * new_run / 3600)


def test_damaged_measurements_are_named(tmp_path):
    bad = tmp_path / "cpu.csv"
    bad.write_text("problem,optimizer\nfmnist_2c2d,sgd\n")
    with pytest.raises(GGNBenchError, match="holds no end-to-end measurement"):
        epoch_cost.read([str(bad)])
    assert "holds no end-to-end measurement" in epoch_cost.damage(bad)
    good = tmp_path / "good.csv"
    raw_rows().to_csv(good, index=False)
    assert epoch_cost.damage(good) is None
    with pytest.raises(GGNBenchError, match="unknown path 'tensor/slow'"):
        epoch_cost.parse_path("tensor/slow")


def test_the_command_measures_every_case_on_every_path_and_the_tables_follow(config, tmp_path):
    cases = epoch_cost.plan(config, "cpu")
    out = tmp_path / "cpu.csv"
    cli = [sys.executable, "-m", "ggnbench.cli"]
    done = subprocess.run(
        [*cli, "epoch-bench", "--cases", json.dumps(cases), "--repeats", "2",
         "--threads", "1", "--out", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    raw = pd.read_csv(out)
    assert len(raw) == 2 * 2 * 2  # rounds x cases x paths
    assert list(raw.path[:2]) == ["pil/exact", "tensor/fast"]  # interleaved
    assert (raw.steps == 3).all() and (raw.step_s > 0).all() and (raw.eval_s > 0).all()
    assert (raw.steps_per_epoch == 19).all()  # 1,247 training digits at batch 64
    done = subprocess.run([*cli, "tables", "epoch", "--csv", str(out), "--out", str(tmp_path)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    speed = pd.read_csv(tmp_path / "epoch_speedup.csv")
    assert len(speed) == 2 and (speed.rounds == 2).all()
    bad = subprocess.run([*cli, "epoch-bench", "--cases", "{}", "--out", str(out)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 2 and "--cases must be a JSON list" in bad.stderr


def test_the_command_plans_a_config_file_itself(tmp_path):
    path = tmp_path / "study.yaml"
    text = STUDY.format(results=tmp_path / "results", data=tmp_path / "data")
    path.write_text(text.replace("steps: 3, repeats: 2, optimizers: [sgd, diag_ggn_mc]",
                                 "steps: 2, repeats: 1, optimizers: [adam]"))  # fmt: skip
    out = tmp_path / "cpu.csv"
    cli = [sys.executable, "-m", "ggnbench.cli", "epoch-bench"]
    args = ["--configfile", str(path), "--paths", "tensor/fast", "--out", str(out)]
    done = subprocess.run([*cli, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    raw = pd.read_csv(out)
    assert raw.optimizer.tolist() == ["adam"] and raw.path.tolist() == ["tensor/fast"]
    assert raw.tune_runs.tolist() == [0] and raw.final_runs.tolist() == [3]
    path.write_text(text.replace("optimizers: [sgd, diag_ggn_mc]", "optimizers: [sgdd]"))
    bad = subprocess.run([*cli, "--configfile", str(path), "--out", str(out)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 2 and "epoch_bench/optimizers: sgdd not among" in bad.stderr


def test_compare_tables_leaves_out_timing_and_holds_losses_to_the_tolerance(tmp_path):
    """bench/compare_tables.py: what the before/after comparison of a study's tables checks."""
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir(), after.mkdir()
    curves = pd.DataFrame({"step": [0, 0, 1], "split": ["train", "test", "test"],
                           "loss": [2.0, 1.5, 1.25], "accuracy": [0.5, 0.25, 0.75],
                           "time_s": [0.1, 0.2, 0.3]})  # fmt: skip
    curves.to_csv(before / "curves.csv", index=False)
    script = [sys.executable, str(ROOT / "bench" / "compare_tables.py"), str(before), str(after)]

    def verdict(changes: dict) -> tuple[int, str]:
        changed = curves.copy()
        for (column, row), value in changes.items():
            changed.loc[row, column] = value
        changed.to_csv(after / "curves.csv", index=False)
        done = subprocess.run(script, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout

    assert verdict({("time_s", 0): 9.0})[0] == 0  # timing left out
    code, out = verdict({("loss", 1): 1.5 * (1 + 2e-6)})  # an evaluation loss, in tolerance
    assert code == 0 and "evaluation losses within 2.0e-06" in out
    assert verdict({("loss", 1): 1.5 * (1 + 1e-4)})[0] == 1  # beyond it
    assert verdict({("loss", 0): 2.0 + 1e-12})[0] == 1  # training: bitwise or nothing
    assert verdict({("accuracy", 2): 0.5})[0] == 1
