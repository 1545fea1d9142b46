"""The report's opening page and the terminal's last lines: results first, gaps named."""

import base64
import re
from pathlib import Path

import docutils.core
import pandas as pd
import pytest

from ggnbench import cli
from ggnbench.report import artifacts, report, results_table, summary
from ggnbench.report.figure_sets import FIGURE_SETS
from ggnbench.workflow import configcheck
from tests.test_paper import ROOT, synthetic_study

#: The synthetic study's configuration (synthetic_study's runs), validated with defaults.
STUDY = """
results: results
final_seeds: [42, 43, 44]
holdout: per_seed
evaluation: deepobs
problems:
  cifar10_3c3d: {epochs: 3, target_accuracy: 0.3}
optimizers:
  sgd: {lr: [0.001], momentum: 0.9}
  diag_ggn_mc: {lr: [0.001], damping: [0.01]}
seed_example: {enabled: false}
bench: {enabled: true, batch_sizes: [32]}
epoch_bench: {enabled: false}
"""


def load(tmp_path, text=STUDY):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return configcheck.load_study(path, ROOT / "config" / "schema.yaml")


@pytest.fixture
def study(tmp_path, monkeypatch):
    """Tables of a synthetic cifar10_3c3d study (no figures, no benchmark) in ./results."""
    monkeypatch.chdir(tmp_path)
    tables = synthetic_study(tmp_path / "results")
    assert cli.main(["tables", "paper", "--tables", str(tables), "--out", str(tables)]) == 0
    return tables, load(tmp_path)


def test_results_are_the_final_metrics_per_optimizer(study):
    tables, _ = study
    table = results_table.results(tables).set_index("optimizer")
    final = pd.read_csv(tables / "final_metrics.csv")
    accuracy = final[final.metric == "final_test_accuracy"].set_index("optimizer")
    for optimizer in ("diag_ggn_mc", "sgd"):
        row = table.loc[optimizer]
        assert (row.accuracy, row.q1, row.q3) == tuple(
            accuracy.loc[optimizer, ["median", "q1", "q3"]]
        )
        assert row.seeds == 3
    assert table.loc["diag_ggn_mc", "setting"] == "lr 0.001, damping 0.01 (tuned)"
    assert table.loc["sgd", "setting"] == "lr 0.001 (fixed)"
    assert table.loc["sgd", "label"] == "SGD"  # the name the figures give it (styles)
    # the per-epoch verdict against the paper, where the paper ran the problem
    assert table.loc["sgd", "paper"] == "differs (per epoch)"


@pytest.mark.parametrize(
    "accuracies,line",
    [
        ([0.9, 0.8], "highest median final test accuracy: a (0.9000)"),
        ([0.9, 0.9], "highest median final test accuracy: a, b (0.9000)"),  # a tie: both
        ([float("nan"), 0.8], "highest median final test accuracy: b (0.8000)"),
        ([float("nan")] * 2, "no optimizer reached a finite final test accuracy"),
    ],
)
def test_the_best_line_names_ties_and_skips_non_finite(accuracies, line):
    group = pd.DataFrame({"label": ["a", "b"], "accuracy": accuracies})
    assert results_table.best_line(group) == line


def test_the_page_opens_on_the_results_and_names_what_is_missing(study):
    tables, config = study
    figure = tables.parent / "figures" / "learning_curves.png"
    figure.parent.mkdir()
    figure.write_bytes(b"\x89PNG fake bytes " * 40)
    text = summary.render(tables, config)
    results_at, ran_at = (
        text.index("cifar10_3c3d on cpu: 3 epochs, 3 final seeds"),
        text.index("What ran"),
    )
    assert results_at < ran_at  # results first
    assert "**highest median final test accuracy: DiagGGN-MC (0.8370)**" in text
    assert "     - 0.8370 [0.8335, 0.8385]" in text
    assert "     - to a target valid accuracy" in text and "     - vs the paper" in text
    # the headline figure, embedded: its bytes come back from the data URL
    encoded = re.search(r"base64,\n(.*?)\">", text, re.S).group(1)
    assert base64.b64decode("".join(encoded.split())) == figure.read_bytes()
    # what the study makes but does not exist: the benchmark, the other figures, evidence
    assert "- table set bench: bench_overhead, bench_memory, bench_optimizer_step" in text
    # learning_curves' PNG exists, its PDF not: the figure is named once, by its name
    assert "- figure set study: learning_curves, lr_damping_heatmap" in text
    assert "learning_curves.pdf" not in text
    # the figures whose data cannot make a point, with why
    assert "- figure bench_overhead_vs_batch is left out: the benchmark timed one batch" in text
    docutils.core.publish_string(text, writer_name="null", settings_overrides={"halt_level": 2})


def test_a_study_with_nothing_aggregated_says_so(tmp_path):
    config = load(tmp_path, STUDY.replace("results: results", f"results: {tmp_path}"))
    text = summary.render(tmp_path / "tables", config)
    assert "No final run has been aggregated yet" in text
    assert summary.render_text(tmp_path / "tables") == "no final run has been aggregated yet"


def test_the_terminal_lines_name_each_optimizer_and_the_report(study):
    tables, _ = study
    lines = summary.render_text(tables, "results/report.html").splitlines()
    assert (
        lines[0] == "cifar10_3c3d on cpu (highest median final test accuracy: DiagGGN-MC (0.8370)):"
    )
    assert lines[1].split()[:4] == ["DiagGGN-MC", "test", "acc.", "0.8370"]  # the figures' name
    assert lines[-1] == "report: results/report.html"
    assert len(lines) == 4


def test_what_a_run_prints_at_its_end(study, monkeypatch):
    tables, config = study
    failed = report.at_end(config, ["my.yaml"], "schema.yaml", succeeded=False)
    assert "a job failed" in failed and "ggnbench report --configfile my.yaml" in failed
    assert report.at_end(config, [], "schema.yaml", succeeded=True) == ""  # no summary yet
    summary.write(tables, config, tables.parent / "report" / "summary.rst")
    several = report.at_end(config, ["a.yaml", "b.yaml"], "schema.yaml", succeeded=True)
    assert (
        several.startswith("cifar10_3c3d on cpu")
        and "ggnbench report --configfile a.yaml" in several
    )

    def unwritable(*args, **kwargs):
        raise OSError(13, "Permission denied", "results/report.html")

    monkeypatch.setattr(report, "make", unwritable)  # the run succeeded: no traceback
    line = report.at_end(config, ["a.yaml"], "s.yaml", succeeded=True)
    assert line.startswith("ggnbench: the report was not written: ") and "Permission" in line
    calls = []
    monkeypatch.setattr(report, "make", lambda *a, **k: calls.append(a) or "the results")
    assert report.at_end(config, ["a.yaml"], "s.yaml", succeeded=True) == "the results"
    assert [str(c[0]) for c in calls] == ["a.yaml"]


def test_artifacts_follow_the_switches_and_the_figures_that_apply(tmp_path):
    config = load(tmp_path, STUDY.replace("results: results", "results: r"))
    files = artifacts.expected(config)
    assert files["r/tables/bench_overhead.csv"] == ("table set bench", "bench_overhead")
    assert files["r/figures/learning_curves.png"] == ("figure set study", "learning_curves")
    assert not any("seed_example" in p or "epoch_" in p for p in files)
    # one batch size: the overhead against batch size does not apply, the others do
    assert "r/figures/bench_overhead.png" in files
    assert "r/figures/bench_overhead_vs_batch.png" not in files
    config["bench"]["batch_sizes"] = [32, 64]
    assert "r/figures/bench_overhead_vs_batch.png" in artifacts.expected(config)
    config["bench"]["enabled"] = False
    assert not any("bench" in p for p in artifacts.expected(config))
    figure_set, name = artifacts.HEADLINE_FIGURE
    assert name in FIGURE_SETS[figure_set]
    assert artifacts.headline_figure(config) == "r/figures/learning_curves.png"


def test_a_run_into_another_results_folder_is_reported_from_that_folder(tmp_path, monkeypatch):
    """``snakemake --config results=DIR``: the report reads and writes DIR, not the config's."""
    import subprocess

    from ggnbench.report import report
    from ggnbench.workflow.configcheck import load_study

    calls = []

    def fake_run(command, **_):
        calls.append(command)
        Path(command[command.index("--report") + 1]).write_text("<html></html>")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(report.subprocess, "run", fake_run)
    root = Path(__file__).resolve().parents[1]
    config = load_study(root / "config/quick.yaml", root / "config/schema.yaml")
    config["results"] = str(tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "report").mkdir(parents=True)
    (tmp_path / "elsewhere" / "report" / "summary.rst").write_text("made by the run\n")
    report.at_end(config, [root / "config/quick.yaml"], root / "config/schema.yaml", True)
    assert calls and calls[0][-2:] == ["--config", f"results={tmp_path / 'elsewhere'}"]
    assert (tmp_path / "elsewhere" / "report.html").exists()
