"""The figures: one style per optimizer everywhere, readable axes, and which figures apply."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer

from ggnbench import cli
from ggnbench.report import figure_sets, paper
from ggnbench.report.figures import bench, common, study
from ggnbench.report.figures import paper as paper_figures
from ggnbench.report.styles import optimizer_styles

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "mypackage.optim:Lion"
STEPS = 300


def study_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Small ``runs`` and ``curves`` tables shaped like a study's.

    Four built-in optimizers and one by import path, two final seeds each; the DiagGGNs
    tuned over lr x damping with one point diverged and one not run.

    Returns:
        The runs and curves tables.
    """
    rng = np.random.default_rng(0)
    where = {"problem": "digits_cnn", "device": "cpu"}
    runs, curves = [], []
    for optimizer in ("diag_ggn_exact", "diag_ggn_mc"):
        for lr, damping in itertools.product((0.01, 0.1), (0.01, 0.1, 1.0)):
            if (optimizer, lr, damping) == ("diag_ggn_mc", 0.1, 1.0):
                continue  # not run
            diverged = (lr, damping) == (0.1, 0.01)
            accuracy = np.nan if diverged else 0.9 + lr / 2 - damping / 20
            runs.append({**where, "stage": "tune", "optimizer": optimizer, "lr": lr,
                         "damping": damping, "seed": 0,
                         "status": "diverged" if diverged else "ok",
                         "final_valid_accuracy": accuracy,
                         "median_step_s": 0.002})  # fmt: skip
    for k, optimizer in enumerate(("sgd", "adam", "diag_ggn_mc", "diag_ggn_exact", PLUGIN)):
        for seed in (1, 2):
            final = 0.92 + 0.01 * k + 0.002 * seed
            runs.append({**where, "stage": "final", "optimizer": optimizer, "lr": 0.1,
                         "damping": np.nan if k in (0, 1, 4) else 0.1, "seed": seed,
                         "status": "ok", "final_valid_accuracy": final,
                         "median_step_s": 0.001 * 3**k})  # fmt: skip
            for step in range(STEPS):
                loss = 2.3 * np.exp(-step / (40 + 10 * k)) * rng.lognormal(0, 0.5) + 1e-3
                curves.append({**where, "optimizer": optimizer, "seed": seed, "step": step,
                               "split": "train", "loss": loss, "accuracy": 0.5})  # fmt: skip
            for step in range(0, STEPS + 1, 25):
                accuracy = 0.1 + (final - 0.1) * (1 - np.exp(-step / 20))
                for split in ("valid", "test"):
                    curves.append({**where, "optimizer": optimizer, "seed": seed, "step": step,
                                   "split": split, "loss": 2.3 * (1 - accuracy),
                                   "accuracy": accuracy})  # fmt: skip
    return pd.DataFrame(runs), pd.DataFrame(curves)


def paper_tables(epochs: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Small ``paper_curves`` and ``paper_epochs`` tables on fmnist_2c2d, ours short.

    Args:
        epochs: The epochs our runs trained.

    Returns:
        The two tables, optimizers in the paper's labels.
    """
    theirs = paper.curves()
    theirs = theirs[(theirs.problem == "fmnist_2c2d")
                    & theirs.optimizer.isin(["DiagGGN-MC", "DiagGGN", "Momentum"])]  # fmt: skip
    ours = theirs[theirs.epoch <= epochs].assign(
        source="ours", device="cpu", seeds=3,
        median=lambda f: f["median"] * 0.99, q1=lambda f: f.q1 * 0.98, q3=lambda f: f.q3,
    )  # fmt: skip
    curves = pd.concat([ours, theirs.assign(source="paper", device="gpu")], ignore_index=True)
    both = ours.merge(theirs, on=["problem", "optimizer", "metric", "epoch"], suffixes=("", "_p"))
    table = pd.DataFrame({
        "problem": both.problem, "optimizer": both.optimizer, "device": both.device,
        "epoch": both.epoch, "metric": both.metric, "ours_median": both["median"],
        "ours_q1": both.q1, "ours_q3": both.q3, "seeds": both.seeds,
        "paper_median": both.median_p, "paper_q1": both.q1_p, "paper_q3": both.q3_p,
        "tolerance": 0.005,
    })  # fmt: skip
    table["inside_band"] = (table.ours_median >= table.paper_q1 - table.tolerance) & (
        table.ours_median <= table.paper_q3 + table.tolerance
    )
    return curves.drop(columns="seeds"), table


def bench_overhead(batch_sizes: tuple[int, ...] = (32, 64)) -> pd.DataFrame:
    """A small ``bench_overhead`` table: two extensions, the paper's ratio for one.

    Args:
        batch_sizes: The batch sizes timed.

    Returns:
        The table.
    """
    rows = []
    for extension, batch in itertools.product(("none", "DiagGGNMC", "BatchGrad"), batch_sizes):
        ratio = 1.0 if extension == "none" else 1.2 + batch / 100
        rows.append({"network": "cifar10_3c3d", "device": "cpu", "region": "paper_call",
                     "extension": extension, "batch_size": batch, "ratio": ratio,
                     "ratio_low": ratio * 0.9, "ratio_high": ratio * 1.1,
                     "paper_ratio": 1.29 if extension == "DiagGGNMC" else np.nan})  # fmt: skip
    return pd.DataFrame(rows)


def labelled_colours(fig) -> dict[str, set[str]]:
    """The colours of a figure's labelled lines, bars and line collections, per label.

    Returns:
        Label to the set of colours (hex) it is drawn in.
    """
    colours: dict[str, set[str]] = {}
    for ax in fig.axes:
        drawn = [(a.get_label(), a.get_color()) for a in ax.lines]
        drawn += [(c.get_label(), c.patches[0].get_facecolor()) for c in ax.containers
                  if isinstance(c, BarContainer)]  # fmt: skip
        drawn += [(c.get_label(), c.get_edgecolor()[0]) for c in ax.collections]
        for label, colour in drawn:
            if not label.startswith("_"):
                colours.setdefault(label, set()).add(to_hex(colour))
    return colours


def every_optimizer_figure() -> dict[str, object]:
    runs, curves = study_tables()
    paper_curves, paper_epochs = paper_tables()
    return {
        "learning_curves": study.learning_curves(curves),
        "accuracy_vs_damping": study.accuracy_vs_damping(runs),
        "time_per_step": study.time_per_step(runs),
        "paper_curves": paper_figures.paper_curves(paper_curves),
        "paper_epochs": paper_figures.paper_epochs(paper_epochs),
    }


def test_one_colour_per_optimizer_in_every_figure():
    styles = optimizer_styles(study_tables()[0].optimizer)
    expected = {s.label: to_hex(s.color) for s in styles.values()}
    seen: dict[str, set[str]] = {}
    for name, fig in every_optimizer_figure().items():
        drawn = labelled_colours(fig)
        assert drawn, name
        for label, colours in drawn.items():
            assert colours == {expected[label]}, (name, label, colours)
            seen.setdefault(label, set()).add(name)
        for handle in fig.legends[0].legend_handles:  # "SGD", "SGD (cpu, 3 seeds)"
            label = handle.get_label().split(" (")[0]
            if label in expected:
                assert to_hex(handle.get_color()) == expected[label], (name, label)
                seen[label].add(f"{name} legend")
    # DiagGGN-MC is the first line of accuracy_vs_damping and the third of learning_curves
    assert {"learning_curves", "accuracy_vs_damping", "paper_curves", "time_per_step",
            "paper_epochs legend"} <= seen["DiagGGN-MC"]  # fmt: skip
    assert PLUGIN in seen and "SGD" in seen  # the paper's Momentum is our sgd


def test_styles_follow_the_registry_then_sorted_other_names():
    from ggnbench.optimizers.optim import OPTIMIZERS
    from ggnbench.report.styles import MARKERS, PALETTE

    one = optimizer_styles(["z.mod:Z", "a.mod:A", "sgd"])
    other = optimizer_styles(["a.mod:A", "z.mod:Z"])
    assert one == other  # the order given does not matter
    n = len(OPTIMIZERS)
    assert [one[name].color for name in OPTIMIZERS] == list(PALETTE[:n])
    assert (one["a.mod:A"].color, one["z.mod:Z"].color) == (PALETTE[n], PALETTE[n + 1])
    assert len({(s.color, s.marker) for s in one.values()}) == len(one)
    assert one["a.mod:A"].marker == MARKERS[n % len(MARKERS)]
    assert (one["diag_ggn_mc"].label, one["diag_ggn_exact"].label) == (
        "DiagGGN-MC", "exact DiagGGN",
    )  # fmt: skip
    assert one["a.mod:A"].label == "a.mod:A"


def test_learning_curves_axes_say_what_they_show():
    _, curves = study_tables()
    fig = study.learning_curves(curves)
    loss, valid, test = fig.axes
    window = round(study.SMOOTHING_SHARE * STEPS)
    assert loss.get_ylabel() == (
        f"train loss (minibatch),\nrolling median over {window} steps"
    )  # fmt: skip
    assert (valid.get_ylabel(), test.get_ylabel()) == ("validation accuracy", "test accuracy")
    assert loss.get_yscale() == "log"  # the synthetic loss falls by three decades
    # the smoothed line: per run a centred rolling median, then the median over seeds
    train = curves[(curves.split == "train") & (curves.optimizer == "sgd")]
    smooth = train.groupby("seed").loss.transform(
        lambda s: s.rolling(window, center=True, min_periods=1).median()
    )
    expected = smooth.groupby(train.step).median()
    [line] = [line for line in loss.lines if line.get_label() == "SGD"]
    assert np.allclose(line.get_ydata(), expected.to_numpy())
    # accuracy zoomed: the untrained network (0.1) and the first 10% of the later medians
    # lie below the axis, the best median on it
    for ax, split in ((valid, "valid"), (test, "test")):
        part = curves[curves.split == split]
        medians = part.groupby(["optimizer", "step"]).accuracy.median()
        later = medians[medians.index.get_level_values("step") > 0]
        low, high = ax.get_ylim()
        floor = later.quantile(common.ZOOM_QUANTILE)
        assert floor - 0.01 < low < floor
        assert later.max() < high <= 1.0


def test_a_loss_within_a_decade_is_zoomed_not_logarithmic():
    _, curves = study_tables()
    curves = curves.assign(loss=np.where(curves.split == "train", 1 + curves.loss / 10, 0))
    loss = study.learning_curves(curves).axes[0]
    assert loss.get_yscale() == "linear"
    assert loss.get_ylim()[1] < 1.2  # the first steps' 1.23 lie above


def test_no_legend_or_label_overlaps_a_panel():
    runs, _ = study_tables()
    drawn = {**every_optimizer_figure(), "lr_damping_heatmap": study.lr_damping_heatmap(runs),
             "overhead_vs_batch": bench.overhead_vs_batch(bench_overhead())}  # fmt: skip
    for name, fig in drawn.items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]  # with labels and titles
        legends = [legend.get_window_extent(renderer) for legend in fig.legends]
        assert legends, name
        for a, b in itertools.combinations(boxes + legends, 2):
            assert not a.overlaps(b), name


def test_paper_curves_clipped_to_our_epochs_with_a_legend():
    curves, _ = paper_tables(epochs=3)
    fig = paper_figures.paper_curves(curves)
    for ax in fig.axes:
        assert ax.get_xlim()[1] < 3 + paper_figures.PAPER_EXTRA_EPOCHS + 0.5
        assert "the paper's first 4 of 100" in ax.get_xlabel()
        ends = {line.get_linestyle(): max(line.get_xdata()) for line in ax.lines}
        assert ends == {"-": 3, "--": 3 + paper_figures.PAPER_EXTRA_EPOCHS}
    entries = {h.get_label(): h.get_linestyle() for h in fig.legends[0].legend_handles}
    assert entries["ours (cpu)"] == "-" and entries["the paper"] == "--"
    # ours as long as the paper's: nothing clipped, the axis says nothing
    full, _ = paper_tables(epochs=100)
    assert {ax.get_xlabel() for ax in paper_figures.paper_curves(full).axes} == {"epoch"}


def test_overhead_vs_batch_names_the_papers_values_in_its_legend():
    fig = bench.overhead_vs_batch(bench_overhead())
    [ax] = fig.axes
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert [line.get_marker() for line in dashed] == ["x"] * 2  # NaN for BatchGrad: not drawn
    handles = {h.get_label(): h for h in fig.legends[0].legend_handles}
    paper_entry = handles["the paper's median (GPU)"]
    assert (paper_entry.get_linestyle(), paper_entry.get_marker()) == ("--", "x")
    assert {"DiagGGNMC", "BatchGrad"} <= set(handles)
    assert ax.get_ylabel() == "time / plain gradient" and ax.get_xlabel() == "batch size"


def test_overhead_bars_cross_each_bar_the_paper_timed_and_draw_no_empty_region():
    table = bench_overhead()
    steps = table[table.extension == "DiagGGNMC"].assign(region="step", ratio=np.nan,
                                                          paper_ratio=np.nan)  # fmt: skip
    fig = bench.overhead_bars(pd.concat([table, steps], ignore_index=True))
    [ax] = fig.axes  # the step region has no plain-gradient baseline: no panel for it
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    # DiagGGNMC (first category) at batch 32 and 64: the two bars left and right of x=0
    assert sorted(float(line.get_xdata()[0]) for line in crosses) == pytest.approx([-0.2, 0.2])
    assert {float(line.get_ydata()[0]) for line in crosses} == {1.29}
    legend = fig.legends[0]
    handles = dict(zip([t.get_text() for t in legend.get_texts()], legend.legend_handles,
                       strict=True))  # fmt: skip
    assert {"32", "64", "the paper's median (GPU)"} == set(handles)
    bars = {round(p.get_x() + p.get_width() / 2, 6): p.get_facecolor() for p in ax.patches}
    assert bars[-0.2] == handles["32"].get_facecolor()  # the legend's colours are the bars'
    without = bench.overhead_bars(table.assign(paper_ratio=np.nan))
    assert "the paper's median (GPU)" not in {
        h.get_label() for h in without.legends[0].legend_handles
    }


def test_heatmap_marks_diverged_and_not_run_cells_apart():
    runs, _ = study_tables()
    fig = study.lr_damping_heatmap(runs)
    mc = next(ax for ax in fig.axes if ax.get_title().startswith("DiagGGN-MC"))
    exact = next(ax for ax in fig.axes if ax.get_title().startswith("exact DiagGGN"))

    def marks(ax):  # cell (column: damping, row: lr) -> text drawn in it
        return {(int(t.get_position()[0]), int(t.get_position()[1])): t.get_text()
                for t in ax.texts}  # fmt: skip

    # rows lr 0.01, 0.1; columns damping 0.01, 0.1, 1.0
    assert marks(mc)[(0, 1)] == "div." and marks(mc)[(2, 1)] == "not run"
    assert marks(exact)[(0, 1)] == "div." and marks(exact)[(2, 1)] == "0.900"
    hatched = [p for p in mc.patches if p.get_hatch()]
    assert [(p.get_x(), p.get_y()) for p in hatched] == [(0, 1)]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["diverged", "not run"]
    # without the diverged runs their cells did not run, and the legend has no "diverged"
    finished = study.lr_damping_heatmap(runs[runs.status == "ok"])
    assert [t.get_text() for t in finished.legends[0].get_texts()] == ["not run"]
    assert marks(finished.axes[0])[(0, 1)] == "not run"


@pytest.fixture(scope="module")
def quick() -> dict:
    from ggnbench.workflow.configcheck import load_study

    return load_study(ROOT / "config/quick.yaml", ROOT / "config/schema.yaml")


def test_figures_left_out_of_the_quick_study_and_why(quick):
    assert figure_sets.left_out(quick) == {
        "paper_curves": "no problem of the study is one of the paper's (cifar100_allcnnc, "
        "cifar10_3c3d, fmnist_2c2d, mnist_logreg)",
        "paper_epochs": "no problem of the study is one of the paper's (cifar100_allcnnc, "
        "cifar10_3c3d, fmnist_2c2d, mnist_logreg)",
        "bench_overhead_vs_batch": "the benchmark timed one batch size (32): nothing to draw "
        "against it",
    }
    assert figure_sets.applicable(quick, "bench") == ["bench_overhead", "bench_memory"]
    assert figure_sets.applicable(quick, "paper") == []
    assert figure_sets.outputs("bench", "f", ["bench_memory"]) == [
        "f/bench_memory.png", "f/bench_memory.pdf"
    ]  # fmt: skip
    off = {**quick, "bench": {**quick["bench"], "enabled": False}}
    assert "bench_overhead_vs_batch" not in figure_sets.left_out(off)  # not drawn at all


@pytest.mark.parametrize("sizes,applies", [([32], False), ([32, 64], True)])
def test_overhead_against_batch_size_needs_two_sizes(quick, sizes, applies):
    config = {**quick, "bench": {**quick["bench"], "batch_sizes": sizes}}
    assert ("bench_overhead_vs_batch" in figure_sets.applicable(config, "bench")) == applies
    assert ("bench_overhead_vs_batch" in figure_sets.left_out(config)) != applies


@pytest.mark.parametrize("regions,applies", [(["step"], False), (["step", "backward"], True)])
def test_memory_needs_the_backward_region(quick, regions, applies):
    config = {**quick, "bench": {**quick["bench"], "regions": regions}}
    assert ("bench_memory" in figure_sets.applicable(config, "bench")) == applies


def test_paper_figures_need_a_problem_and_optimizer_the_paper_ran(quick):
    problems = {**quick["problems"], "fmnist_2c2d": {"steps": 10, "eval_every": "epoch"}}
    config = {**quick, "problems": problems}
    assert figure_sets.applicable(config, "paper") == ["paper_curves", "paper_epochs"]
    assert not figure_sets.left_out(config).keys() & {"paper_curves", "paper_epochs"}
    # the paper's problem, but only an optimizer of ours the paper never ran
    mine = {"lion": {"class": "torch.optim:SGD", "lr": 0.1}}
    config = {**quick, "problems": problems, "optimizers": mine}
    assert figure_sets.left_out(config)["paper_curves"] == (
        "the paper ran none of the study's optimizers on the study's problems"
    )  # fmt: skip


@pytest.mark.parametrize("damping,heatmap,curve", [
    ([0.1], True, False), ([0.1, 1.0], True, True), (0.1, True, False),
])  # fmt: skip
def test_damping_figures_need_a_tuned_optimizer_with_a_damping(quick, damping, heatmap, curve):
    mc = {**quick["optimizers"]["diag_ggn_mc"], "damping": damping}
    optimizers = {"sgd": quick["optimizers"]["sgd"], "diag_ggn_mc": mc}
    config = {**quick, "optimizers": optimizers}
    drawn = figure_sets.applicable(config, "study")
    assert ("lr_damping_heatmap" in drawn, "accuracy_vs_damping" in drawn) == (heatmap, curve)
    # not tuned (one point): neither
    fixed = {**optimizers["diag_ggn_mc"], "tune": False, "lr": [0.1], "damping": [0.1]}
    config = {**quick, "optimizers": {"diag_ggn_mc": fixed}}
    assert figure_sets.left_out(config)["lr_damping_heatmap"] == (
        "no tuned optimizer of the study takes a damping"
    )  # fmt: skip


def test_cli_draws_only_the_figures_named(tmp_path):
    bench_overhead().to_csv(tmp_path / "bench_overhead.csv", index=False)
    argv = ["figures", "--bench", "--tables", str(tmp_path), "--out", str(tmp_path / "f")]
    assert cli.main([*argv, "--only", "bench_overhead"]) == 0
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "bench_overhead.pdf", "bench_overhead.png"
    ]  # fmt: skip
    assert cli.main([*argv, "--only", "paper_curves"]) != 0  # not a figure of the set


def test_every_caption_of_the_registries_renders_as_the_report_renders_it():
    # snakemake --report renders a caption through Jinja2, then docutils to HTML: a
    # caption that is not clean reStructuredText fails here, not in a study's report.
    from docutils.core import publish_parts
    from jinja2 import Environment

    from ggnbench.report.tables import TABLE_SETS

    captions = {f"figure {name}": figure.caption for figures in figure_sets.FIGURE_SETS.values()
                for name, figure in figures.items()}  # fmt: skip
    captions |= {f"table {name}": caption for table_set in TABLE_SETS.values()
                 for name, caption in table_set.tables.items()}  # fmt: skip
    for name, caption in captions.items():
        text = Environment(trim_blocks=True, lstrip_blocks=True).from_string(caption).render()
        html = publish_parts(text, writer_name="html", settings_overrides={"halt_level": 2})
        assert html["body"].startswith("<p>") and "system-message" not in html["body"], name
