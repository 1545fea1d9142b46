"""Values a deliberate bug would change: networks, selection, weight decay, summaries."""

import pandas as pd
import pytest
import torch
from backpack import backpack, extend
from torch import nn

from ggnbench.errors import GGNBenchError
from ggnbench.optimizers.optim import DiagGGN
from ggnbench.report import aggregate
from ggnbench.run import results
from ggnbench.run.outcome import RunResult, summarize
from ggnbench.run.train import evaluate
from ggnbench.workflow.best_point import select_best
from ggnbench.workload.problems import PROBLEMS, get_problem

#: DeepOBS's parameter counts (and the example network's).
PARAMETERS = {
    "mnist_logreg": 7_850,
    "fmnist_2c2d": 3_274_634,
    "cifar10_3c3d": 895_210,
    "cifar100_allcnnc": 1_387_108,
    "mnist_cnn": 431_080,
}


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_networks_have_deepobs_sizes_and_run_forward(name):
    problem = get_problem(name)
    torch.manual_seed(0)
    model = problem.model_fn()
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[name]
    model.eval()
    out = model(torch.randn(2, *problem.input_shape))
    assert out.shape == (2, problem.num_classes) and torch.isfinite(out).all()


def test_every_problem_is_covered():
    assert set(PROBLEMS) - set(PARAMETERS) == {"digits_cnn"}


def fake_run(folder, lr, status, valid_acc, valid_loss, test_acc):
    summary = {"final_valid_accuracy": valid_acc, "final_valid_loss": valid_loss,
               "final_test_accuracy": test_acc}  # fmt: skip
    config = {"problem": "p", "optimizer": "diag_ggn_mc", "device": "cpu", "lr": lr,
              "damping": 1.0}  # fmt: skip
    results.write_run(folder, [], {"config": config, "status": status, "summary": summary})
    return {"out": str(folder), "config": config, "status": status}


def test_selection_ranks_by_validation_breaks_ties_by_loss_and_skips_diverged(tmp_path):
    entries = [
        # the best test accuracy, but not the best validation accuracy
        fake_run(tmp_path / "a", 0.1, "ok", 0.80, 0.50, 0.95),
        # tied on validation accuracy: the lower validation loss wins
        fake_run(tmp_path / "b", 0.2, "ok", 0.90, 0.40, 0.70),
        fake_run(tmp_path / "c", 0.3, "ok", 0.90, 0.30, 0.60),
        # the highest accuracy recorded, then diverged
        fake_run(tmp_path / "d", 1.0, "diverged", 0.99, 0.01, 0.99),
    ]
    results.atomic_write_json(tmp_path / "m.json", {"runs": entries})
    best = select_best([tmp_path / "m.json"])
    assert best["best"]["lr"] == 0.3 and best["runner_up"]["lr"] == 0.2
    assert (best["grid_points"], best["diverged"]) == (4, 1)


def test_weight_decay_applies_to_weights_only_over_several_steps():
    torch.manual_seed(0)
    model = extend(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)))
    loss_fn = extend(nn.CrossEntropyLoss())
    problem = get_problem("digits_cnn")
    lr, damping, wd = 0.2, 0.5, 0.3
    opt = DiagGGN(problem.param_groups(model, wd), lr=lr, damping=damping, curvature="exact")
    assert [g["weight_decay"] for g in opt.param_groups] == [wd, 0.0]
    for _ in range(3):
        x, y = torch.randn(5, 4), torch.randint(0, 2, (5,))
        opt.zero_grad()
        with backpack(*opt.backpack_extensions()):
            loss_fn(model(x), y).backward()
        expected = []
        for p in model.parameters():
            decay = wd if p.dim() > 1 else 0.0
            g, diag = p.grad, p.diag_ggn_exact
            expected.append(p.detach() - lr * (g + decay * p.detach()) / (diag + damping + decay))
        opt.step()
        for p, e in zip(model.parameters(), expected, strict=True):
            torch.testing.assert_close(p.detach(), e)


def test_evaluation_runs_in_eval_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.9), nn.Linear(3, 2))
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=7)
    model.train()
    loss, acc = evaluate(model, nn.CrossEntropyLoss(), loader, torch.device("cpu"))
    assert model.training  # the mode is restored
    with torch.no_grad():
        out = model[1](x)  # dropout off: the linear layer alone
    assert loss == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-6)
    assert acc == (out.argmax(1) == y).float().mean().item()


def summary_of(valid, step_times, opt_times):
    result = RunResult()
    result.records = [
        {"step": s, "split": "valid", "loss": loss, "accuracy": acc, "time_s": 0.0}
        for s, (loss, acc) in enumerate(valid)
    ]
    timings = {"step": step_times, "optimizer": opt_times, "data": [], "eval": []}
    return summarize(result, timings, 0.0, 0.0, torch.device("cpu"))


def test_summary_final_and_best_differ():
    summary = summary_of([(2.0, 0.5), (0.9, 0.8), (0.7, 0.6)], [1.0], [0.1])
    assert summary["final_valid_accuracy"] == 0.6 and summary["final_valid_loss"] == 0.7
    assert summary["best_valid_accuracy"] == 0.8 and summary["best_valid_step"] == 1
    assert summary["best_valid_loss"] == 0.7


def test_step_time_quartiles_of_a_run():
    summary = summary_of([(1.0, 0.5)], [5.0, 1.0, 4.0, 2.0, 3.0], [0.3, 0.1, 0.2, 0.9, 0.4])
    assert (summary["step_s_q1"], summary["median_step_s"], summary["step_s_q3"]) == (2, 3, 4)
    assert summary["median_optimizer_step_s"] == 0.3
    assert summary["steps_done"] == 5


def test_time_per_step_table_by_hand():
    rows = [
        # sgd: run medians 1, 3 (median 2); adam: 4, 6, 8 (median 6)
        ("sgd", 1.0, 0.5, 1.5, 0.1), ("sgd", 3.0, 2.0, 4.0, 0.3),
        ("adam", 4.0, 3.0, 5.0, 0.2), ("adam", 6.0, 5.0, 7.0, 0.6), ("adam", 8.0, 7.0, 9.0, 1.0),
        ("adam", 100.0, 100.0, 100.0, 100.0),  # diverged: left out
    ]  # fmt: skip
    runs = pd.DataFrame(
        [{"stage": "final", "problem": "p", "device": "cpu", "optimizer": o,
          "status": "diverged" if m == 100.0 else "ok", "median_step_s": m, "step_s_q1": q1,
          "step_s_q3": q3, "median_optimizer_step_s": s} for o, m, q1, q3, s in rows]
    )  # fmt: skip
    table = aggregate.time_per_step(runs).set_index("optimizer")
    assert table.loc["sgd", "n"] == 2 and table.loc["adam", "n"] == 3
    assert table.loc["sgd", "median_step_s"] == 2.0 and table.loc["adam", "median_step_s"] == 6.0
    assert table.loc["adam", "step_s_q1"] == 5.0 and table.loc["adam", "step_s_q3"] == 7.0
    assert table.loc["adam", "optimizer_step_fraction"] == pytest.approx(0.6 / 6.0)
    assert table.loc["sgd", "optimizer_step_fraction"] == pytest.approx(0.2 / 2.0)
    assert table.loc["adam", "ratio_to_sgd"] == 3.0


def test_table_sets_registry(tmp_path, capsys):
    """Every table set has a builder; a builder that misses a table writes nothing."""
    from ggnbench import cli
    from ggnbench.report import tables

    for name, table_set in tables.TABLE_SETS.items():
        assert callable(table_set.build), name
        assert table_set.outputs("t")[0] == f"t/{next(iter(table_set.tables))}.csv"
    with pytest.raises(GGNBenchError, match="unknown table set 'nope'"):
        tables.make("nope", tmp_path)
    with pytest.raises(SystemExit):
        cli.main(["tables", "nope", "--out", str(tmp_path)])
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    broken = tables.TableSet(("a", "b"), (), lambda: {}, "two tables from nothing", "Tables")
    tables.TABLE_SETS["broken"] = broken
    try:
        with pytest.raises(GGNBenchError, match="built \\[\\], not \\['a', 'b'\\]"):
            tables.make("broken", tmp_path)
    finally:
        del tables.TABLE_SETS["broken"]
    assert not list(tmp_path.iterdir())


def test_every_figure_of_the_registry_has_one_drawing_function():
    """Each registry figure is drawn by one registered function; the registry needs no plotting."""
    import subprocess
    import sys

    from ggnbench.report import figure_sets
    from ggnbench.report.figures import draw, registry, seed_example

    registered = {name for figure_set in figure_sets.FIGURE_SETS.values() for name in figure_set}
    assert set(registry.DRAWINGS) == registered
    # every drawing function comes from a module that draw imports, and each such module has one
    modules = {function.__module__ for function in registry.DRAWINGS.values()}
    assert modules == {module.__name__ for module in draw.MODULES}
    with pytest.raises(GGNBenchError, match="no figure 'learning_curves' left to draw"):
        registry.drawing("learning_curves")(lambda curves: None)
    with pytest.raises(GGNBenchError, match="no figure 'nope' left to draw"):
        registry.drawing("nope")(lambda: None)
    del registry.DRAWINGS["seed_example"]
    try:
        with pytest.raises(GGNBenchError, match="must take the tables of 'seed_example'"):
            registry.drawing("seed_example")(lambda trace: None)
    finally:
        registry.DRAWINGS["seed_example"] = seed_example.seed_example
    assert figure_sets.outputs("paper", "f") == [
        "f/paper_curves.png", "f/paper_curves.pdf", "f/paper_epochs.png", "f/paper_epochs.pdf"
    ]  # fmt: skip
    light = "import sys, ggnbench.report.figure_sets; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", light], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
