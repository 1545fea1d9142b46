"""The paper's shipped numbers, and our results lined up beside them (on synthetic runs)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ggnbench import cli
from ggnbench.report import aggregate, paper
from ggnbench.run import results

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_numbers_are_the_papers():
    ratios = paper.bench_ratios().set_index(["network", "extension", "batch_size"]).paper_ratio
    # the paper's text: DiagGGN-MC on 3C3D costs 1.29/1.24/1.22/1.24 gradients (batch 32-128)
    for batch, published in zip((32, 48, 64, 128), (1.29, 1.24, 1.22, 1.24), strict=True):
        assert round(ratios["cifar10_3c3d", "DiagGGNMC", batch], 2) == published
    assert round(ratios["cifar10_3c3d", "DiagGGNExact", 128], 2) == 1.93
    assert round(ratios["cifar100_allcnnc", "DiagGGNMC", 128], 2) == 1.60
    final = paper.final_accuracy().set_index(["problem", "optimizer"])
    assert round(final.loc[("cifar10_3c3d", "DiagGGN-MC"), "median"], 3) == 0.837
    assert final.loc[("cifar10_3c3d", "DiagGGN-MC"), "epochs"] == 100
    assert final.loc[("cifar100_allcnnc", "DiagGGN-MC"), "epochs"] == 350
    assert ("cifar100_allcnnc", "DiagGGN") not in final.index  # never run by the paper
    curves = paper.curves()
    assert len(curves) == 11_892
    assert ((curves.q1 <= curves["median"]) & (curves["median"] <= curves.q3)).all()
    best = paper.best_settings().set_index(["problem", "optimizer"])
    assert best.loc[("cifar10_3c3d", "DiagGGN-MC"), "damping"] == 1e-2


STEPS_PER_EPOCH = 10
#: Final test accuracy per seed: DiagGGN-MC around the paper's 0.837, Momentum far below.
FINAL = {"diag_ggn_mc": [0.83, 0.837, 0.84], "sgd": [0.50, 0.52, 0.51]}


def synthetic_study(root):
    """Final-seed run folders of cifar10_3c3d, three epochs, evaluated every epoch."""
    entries = []
    for optimizer, accuracies in FINAL.items():
        for seed, final in enumerate(accuracies, start=42):
            records = []
            for epoch in range(4):
                accuracy = final * (epoch + 1) / 4
                for split in ("valid", "test", "train_eval"):
                    records.append({"step": epoch * STEPS_PER_EPOCH, "split": split,
                                    "loss": 2.0 - accuracy, "accuracy": accuracy,
                                    "time_s": float(epoch)})  # fmt: skip
            config = {"problem": "cifar10_3c3d", "optimizer": optimizer, "device": "cpu",
                      "lr": 1e-3, "damping": 0.01 if optimizer != "sgd" else None,
                      "seed": seed}  # fmt: skip
            summary = {"final_test_accuracy": final, "final_valid_accuracy": final,
                       "final_test_loss": 2 - final, "final_valid_loss": 2 - final}  # fmt: skip
            out = root / f"runs/{optimizer}/seed={seed}"
            results.write_run(out, records, {
                "config": config, "status": "ok", "summary": summary,
                "resolved": {"steps_per_epoch": STEPS_PER_EPOCH},
            })  # fmt: skip
            protocol = "fixed" if optimizer == "sgd" else "tuned"
            entries.append({"out": str(out), "config": config, "status": "ok",
                            "protocol": protocol})  # fmt: skip
    results.atomic_write_json(root / "final.json", {"runs": entries})
    runs = aggregate.collect_runs([], [root / "final.json"])
    tables = root / "tables"
    tables.mkdir()
    runs.to_csv(tables / "runs.csv", index=False)
    aggregate.load_curves(runs).to_csv(tables / "curves.csv", index=False)
    aggregate.final_metrics(runs).to_csv(tables / "final_metrics.csv", index=False)
    return tables


def test_comparison_table_and_figure_from_synthetic_runs(tmp_path):
    tables = synthetic_study(tmp_path)
    assert cli.main(["tables", "paper", "--tables", str(tables), "--out", str(tables)]) == 0
    table = pd.read_csv(tables / "paper_comparison.csv").set_index("optimizer")
    mc, sgd = table.loc["DiagGGN-MC"], table.loc["Momentum"]
    assert mc.ours_median == pytest.approx(0.837) and mc.paper_median == pytest.approx(0.837039)
    assert mc.ours_q1 == pytest.approx(0.8335) and mc.ours_q3 == pytest.approx(0.8385)
    assert mc.difference == pytest.approx(0.837 - 0.837039)
    assert mc.ours_inside_paper_iqr and mc.verdict == "agrees" and mc.protocol == "tuned"
    assert (mc.ours_lr, mc.ours_damping, mc.paper_lr, mc.paper_damping) == (1e-3, 0.01, 1e-3, 0.01)
    assert sgd.verdict == "lower" and not sgd.paper_inside_ours_iqr and sgd.protocol == "fixed"
    assert np.isnan(sgd.paper_damping) and sgd.paper_lr == pytest.approx(3.79e-3)
    assert set(table.paper_source) == {paper.SOURCE}
    assert "reference/paper" in (tables / "paper_comparison.md").read_text()

    curves = pd.read_csv(tables / "paper_curves.csv")
    ours = curves[(curves.source == "ours") & (curves.metric == "test_accuracies")]
    last = ours[(ours.optimizer == "DiagGGN-MC") & (ours.epoch == 3)].iloc[0]
    assert last["median"] == pytest.approx(0.837) and last.q3 == pytest.approx(0.8385)
    assert set(ours.epoch) == {0, 1, 2, 3}  # steps / steps per epoch
    assert set(curves.metric) == set(paper.METRICS)
    theirs = curves[curves.source == "paper"]
    assert set(theirs.problem) == {"cifar10_3c3d"}
    assert set(theirs.optimizer) == {"DiagGGN-MC", "Momentum"}  # only what we ran
    assert theirs.epoch.max() == 100

    figures = tmp_path / "figures"
    assert cli.main(["figures", "--paper", "--tables", str(tables), "--out", str(figures)]) == 0
    from matplotlib.image import imread

    assert (figures / "paper_curves.pdf").read_bytes().startswith(b"%PDF-")
    assert imread(figures / "paper_curves.png").std() > 0


def test_per_epoch_comparison_by_hand(tmp_path):
    tables = synthetic_study(tmp_path)
    tolerance = '{"accuracy": 0.01, "loss": 0.05}'
    argv = [
        "tables",
        "paper",
        "--tables",
        str(tables),
        "--tolerance",
        tolerance,
        "--out",
        str(tables),
    ]
    assert cli.main(argv) == 0
    table = pd.read_csv(tables / "paper_epochs.csv")
    theirs = paper.curves().set_index(["problem", "metric", "optimizer", "epoch"])
    # one row per optimizer, metric and epoch 0-3 that both have
    assert len(table) == 2 * 4 * 4 and set(table.epoch) == {0, 1, 2, 3}
    row = table[(table.optimizer == "DiagGGN-MC") & (table.metric == "test_accuracies")
                & (table.epoch == 2)].iloc[0]  # fmt: skip
    ours = np.median([a * 3 / 4 for a in FINAL["diag_ggn_mc"]])
    q1, q3 = (np.quantile([a * 3 / 4 for a in FINAL["diag_ggn_mc"]], q) for q in (0.25, 0.75))
    p = theirs.loc[("cifar10_3c3d", "test_accuracies", "DiagGGN-MC", 2)]
    assert row.ours_median == pytest.approx(ours) and row.seeds == 3
    assert (row.ours_q1, row.ours_q3) == (pytest.approx(q1), pytest.approx(q3))
    assert (row.paper_median, row.paper_q1, row.paper_q3) == (p["median"], p.q1, p.q3)
    assert row.tolerance == 0.01
    inside = p.q1 - 0.01 <= ours <= p.q3 + 0.01
    assert row.inside_band == inside
    assert row.verdict == ("inside" if inside else "above" if ours > p.q3 else "below")
    loss = table[(table.metric == "test_losses")].iloc[0]
    assert loss.tolerance == 0.05
    # the band's edge: a median exactly tolerance above q3 is inside, a hair more is not
    curves, runs = pd.read_csv(tables / "curves.csv"), pd.read_csv(tables / "runs.csv")
    edge = p.q3 + 0.01 - ours
    shifted = curves.assign(
        accuracy=np.where(
            (curves.optimizer == "diag_ggn_mc") & (curves.step == 20) & (curves.split == "test"),
            curves.accuracy + edge + np.array([1e-9]), curves.accuracy,
        )
    )  # fmt: skip
    moved = paper.epochs(shifted, runs, {"accuracy": 0.01})
    cell = moved[(moved.optimizer == "DiagGGN-MC") & (moved.metric == "test_accuracies")
                 & (moved.epoch == 2)].iloc[0]  # fmt: skip
    assert cell.verdict == "above" and not cell.inside_band
    summary = pd.read_csv(tables / "paper_epochs_summary.csv").set_index("optimizer")
    mc = table[table.optimizer == "DiagGGN-MC"]
    assert summary.loc["DiagGGN-MC", "rows"] == 16
    assert summary.loc["DiagGGN-MC", "inside"] == mc.inside_band.sum()
    assert summary.loc["Momentum", "verdict"] == "differs"  # Momentum's 0.5 is far below
    assert "test_accuracies (" in summary.loc["Momentum", "outside_metrics"]

    figures = tmp_path / "figures"
    assert cli.main(["figures", "--paper", "--tables", str(tables), "--out", str(figures)]) == 0
    from matplotlib.image import imread

    assert imread(figures / "paper_epochs.png").std() > 0


def test_summary_names_the_data_and_the_verdicts(tmp_path):
    from ggnbench.report import summary

    tables = synthetic_study(tmp_path)
    assert cli.main(["tables", "paper", "--tables", str(tables), "--out", str(tables)]) == 0
    from tests.test_summary import load

    config = load(tmp_path)  # cifar10_3c3d, 3 epochs, seeds 42-44, per_seed, deepobs
    text = summary.render(tables, config)
    assert "cifar10_3c3d (3 epochs)" in text and "42, 43, 44" in text
    assert "evaluation deepobs" in text
    verdicts = pd.read_csv(tables / "paper_epochs_summary.csv")
    for optimizer, verdict in zip(verdicts.optimizer, verdicts.verdict, strict=True):
        assert f"   * - cifar10_3c3d\n     - {optimizer}\n     - cpu" in text
        assert verdict in text
    assert "no run records its data" in text  # the synthetic runs have no data record
    import docutils.core

    docutils.core.publish_string(text, writer_name="null", settings_overrides={"halt_level": 2})


def test_summary_data_lines_say_whether_the_files_are_the_originals(tmp_path):
    import json

    from ggnbench.report import summary
    from ggnbench.workload import data

    shipped = data.DATASETS["fmnist"].content.sha256
    folders = []
    for i, sums in enumerate([shipped, shipped, {**shipped, "t10k-labels-idx1-ubyte": "0"}]):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        record = {"dataset": "fmnist", "source": "package", "origin": "package x", "sha256": sums}
        (folder / "run.json").write_text(json.dumps({"resolved": {"data": record}}))
        folders.append(str(folder))
    lines = summary.data_lines(pd.DataFrame({"run": folders}))
    assert len(lines) == 2
    assert any("the original files" in line and "2 runs" in line for line in lines)
    assert any("NOT the" in line and "1 runs" in line for line in lines)


CHECK = ROOT / "results" / "paper-check" / "tables"


@pytest.mark.skipif(
    not (CHECK / "paper_epochs.csv").is_file(),
    reason="needs the output of make paper-check (results/paper-check)",
)
def test_the_paper_check_s_table_follows_from_its_runs():
    # On the real output: the per-epoch table is what its curves and runs give, every row
    # has the paper's band, and our epoch-0 networks (one per seed) are evaluated.
    import yaml

    config = yaml.safe_load((ROOT / "config" / "paper-check.yaml").read_text())
    curves, runs = pd.read_csv(CHECK / "curves.csv"), pd.read_csv(CHECK / "runs.csv")
    again = paper.epochs(curves, runs, config["paper_band_tolerance"])
    written = pd.read_csv(CHECK / "paper_epochs.csv")
    pd.testing.assert_frame_equal(again.reset_index(drop=True), written, check_dtype=False)
    assert set(written.epoch) == set(range(config["problems"]["fmnist_2c2d"]["epochs"] + 1))
    assert (written.seeds == len(config["final_seeds"])).all()
    assert (written.paper_q1 <= written.paper_q3).all()


def test_a_run_shorter_than_the_paper_s_is_not_held_to_its_final_accuracy(tmp_path):
    tables = synthetic_study(tmp_path)
    runs = pd.read_csv(tables / "runs.csv").assign(steps_done=30)  # 3 epochs of 10 steps
    table = paper.comparison(pd.read_csv(tables / "final_metrics.csv"), runs)
    assert set(table.ours_epochs) == {3.0} and set(table.paper_epochs) == {100}
    assert set(table.verdict) == {"shorter"}
    full = paper.comparison(pd.read_csv(tables / "final_metrics.csv"), runs.assign(steps_done=1000))
    assert set(full.verdict) == {"agrees", "lower"}  # 100 epochs: held to it


def test_a_study_without_the_paper_s_problems_has_empty_per_epoch_tables(tmp_path):
    # The quick and tiny studies train digits_cnn, which the paper never ran.
    curves = pd.DataFrame(columns=["problem", "optimizer", "device", "seed", "step", "split",
                                   "loss", "accuracy", "time_s"])  # fmt: skip
    runs = pd.DataFrame(columns=["stage", "problem", "optimizer", "device", "seed",
                                 "steps_per_epoch"])  # fmt: skip
    table = paper.epochs(curves, runs)
    assert table.empty and list(table.columns) == paper.EPOCH_COLUMNS
    assert paper.epochs_summary(table).empty


def one_seed_tables(values: dict[int, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One final seed of cifar10_3c3d's DiagGGN-MC with a given test accuracy per epoch.

    Returns:
        The ``curves`` and ``runs`` tables: after epoch ``e`` the test accuracy is
        ``values[e]``, so is its median over seeds, exactly.
    """
    keys = {"problem": "cifar10_3c3d", "optimizer": "diag_ggn_mc", "device": "cpu", "seed": 42}
    runs = pd.DataFrame([{**keys, "stage": "final", "steps_per_epoch": STEPS_PER_EPOCH}])
    curves = pd.DataFrame(
        [{**keys, "step": epoch * STEPS_PER_EPOCH, "split": "test", "loss": 1.0,
          "accuracy": value} for epoch, value in values.items()]
    )  # fmt: skip
    return curves, runs


# the quartiles of our one infinite value (inf - inf inside numpy's quantile)
@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")
def test_the_band_holds_its_edges_and_nothing_past_them():
    """``[q1 - tol, q3 + tol]``: each edge inside, the next float outside; NaN is missing."""
    theirs = paper.curves().set_index(["problem", "metric", "optimizer", "epoch"])
    tolerance = 0.01
    cells = {}
    for epoch in range(1, 8):
        p = theirs.loc[("cifar10_3c3d", "test_accuracies", "DiagGGN-MC", epoch)]
        high, low = p.q3 + tolerance, p.q1 - tolerance
        cells[epoch] = [
            (high, "inside"),
            (np.nextafter(high, np.inf), "above"),
            (low, "inside"),
            (np.nextafter(low, -np.inf), "below"),
            (np.nan, "missing"),
            (np.inf, "above"),
            (-np.inf, "below"),
        ][epoch - 1]
    curves, runs = one_seed_tables({e: value for e, (value, _) in cells.items()})
    table = paper.epochs(curves, runs, {"accuracy": tolerance})
    table = table[table.metric == "test_accuracies"].set_index("epoch")
    for epoch, (value, verdict) in cells.items():
        row = table.loc[epoch]
        assert row.ours_median == value or (np.isnan(value) and np.isnan(row.ours_median))
        assert row.verdict == verdict, (epoch, value, row.paper_q1, row.paper_q3)
        assert bool(row.inside_band) == (verdict == "inside"), (epoch, value)
    summary = paper.epochs_summary(table.reset_index()).iloc[0]
    assert summary.inside == 2 and summary.outside == 5 and summary.verdict == "differs"
    assert "test_accuracies (2:above, 4:below, 5:missing, 6:above, 7:below)" in (
        summary.outside_metrics
    )
