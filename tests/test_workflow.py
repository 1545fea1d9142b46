"""The workflow through real snakemake processes: lint, dry runs, a tiny study end to end."""

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import USER_OPTIMIZER, hold_lock

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "workflow" / "tiny.yaml"
pytestmark = pytest.mark.workflow


def snakemake(*args: str, workdir: Path | None = None, timeout: int = 600, env: dict | None = None):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
    if workdir is not None:
        cmd += ["--directory", str(workdir)]
    return subprocess.run(
        [*cmd, *args], cwd=workdir or ROOT, capture_output=True, text=True, timeout=timeout,
        env=env,
    )  # fmt: skip


def test_lint_is_clean():
    done = snakemake("--lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Congratulations" in done.stdout + done.stderr


def job_counts(output: str) -> dict[str, int]:
    counts, in_table = {}, False
    for line in output.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
            elif counts:
                break
    return counts


def test_dry_run_of_the_paper_study_shows_the_papers_protocol(tmp_path):
    # In an empty folder: the counts do not depend on what this checkout has run.
    paper = ["--configfile", str(ROOT / "config/config.yaml"), "--config", "devices=[cpu]"]
    done = snakemake("-n", "--quiet", "rules", *paper, workdir=tmp_path)
    assert done.returncode == 0, done.stderr
    counts = job_counts(done.stdout + done.stderr)
    # chunk_size 1: one job per run. DiagGGN-MC's 30-point grid on 5 problems, exact's on 4
    # (not All-CNN-C), the baselines' 5-point grids on the example's network only; KFAC's
    # grid on 4 problems, KFLR's on 3 (not All-CNN-C), KFRA's on mnist_logreg, as the paper.
    assert counts["tune"] == 5 * 30 + 4 * 30 + 2 * 5 + (4 + 3 + 1) * 30
    assert counts["select_best"] == 5 + 4 + 2 + 4 + 3 + 1
    assert counts["final_seeds"] == (5 + 4 + 2 * 5 + 4 + 3 + 1) * 10  # 10 seeds: 42-51
    assert counts["download"] == 4 and counts["seed_example_run"] == 2
    jobs = snakemake("-n", *paper, workdir=tmp_path)
    assert jobs.returncode == 0, jobs.stderr
    text = jobs.stdout + jobs.stderr
    assert "cifar100_allcnnc/diag_ggn_exact" not in text
    assert "cifar100_allcnnc/kflr" not in text and "fmnist_2c2d/kfra" not in text
    assert "results/manifests/final/cifar100_allcnnc/kfac/device=cpu/chunk=9.json" in text
    assert "results/manifests/final/cifar100_allcnnc/sgd/device=cpu/chunk=9.json" in text
    assert "results/tuning/cifar100_allcnnc/sgd" not in text  # the paper's rate, not tuned


def test_dry_run_of_the_quick_study(tmp_path):
    done = snakemake("-n", "--quiet", "rules", "--configfile", str(ROOT / "config/quick.yaml"),
                     workdir=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    counts = job_counts(done.stdout + done.stderr)
    # chunk_size 3: sgd 1 + adam 1 + 2 x 2 DiagGGN chunks of the 6-point grids + 2 KFAC
    # chunks of its 4-point grid; 3 seeds: 1 chunk each
    assert counts["tune"] == 8 and counts["final_seeds"] == 5 and counts["aggregate"] == 1


@pytest.mark.parametrize("sizes,drawn", [("[4]", False), ("[4, 8]", True)])
def test_figures_that_do_not_apply_are_neither_declared_nor_drawn(tmp_path, sizes, drawn):
    config = tmp_path / "study.yaml"
    config.write_text(TINY.read_text().replace("batch_sizes: [4]", f"batch_sizes: {sizes}"))
    done = snakemake("-n", "-p", "--configfile", str(config), workdir=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    assert "figures/bench_memory.png" in text
    assert ("figures/bench_overhead_vs_batch.png" in text) == drawn
    assert ("--only bench_overhead bench_overhead_vs_batch bench_memory" in text) == drawn
    assert "figures/paper_curves" not in text  # digits_cnn: no problem of the paper


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("value,words", [("0", "minimum"), (".inf", "finite"), (".nan", "finite")])
def test_bad_config_stops_at_start_with_one_line(tmp_path, value, words):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("lr: [0.1]", f"lr: [{value}]"))
    done = snakemake("-n", "--configfile", str(bad), workdir=tmp_path)
    assert done.returncode != 0
    [line] = error_lines(done)
    assert "optimizers/diag_ggn_mc/lr/0" in line and words in line
    assert not (tmp_path / "results").exists()


def test_yaml_error_in_the_study_config_names_file_and_line(tmp_path):
    tree = tmp_path / "workflow"
    for folder in ("rules", "config"):
        shutil.copytree(ROOT / folder, tree / folder)
    shutil.copy(ROOT / "Snakefile", tree / "Snakefile")
    (tree / "src").symlink_to(ROOT / "src")
    config = tree / "config" / "config.yaml"
    lines = config.read_text().splitlines()
    config.write_text("\n".join([*lines, "final_seeds: [1, 2"]) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(tree / "Snakefile"), "-n"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    [line] = error_lines(done)
    assert line.startswith(f"error: {config}, line {len(lines) + 2}, column") and "YAML" in line


def test_unwritable_results_folder_stops_at_start_with_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    done = snakemake("--cores", "1", "--configfile", str(TINY), "--config",
                     f"results={tmp_path / 'file' / 'results'}", workdir=tmp_path)  # fmt: skip
    assert done.returncode != 0
    [line] = error_lines(done)
    assert "cannot write to results folder" in line and "is a file, not a folder" in line


def test_second_workflow_on_one_results_folder_stops_at_start(tmp_path):
    holder = hold_lock(tmp_path / "results")
    try:
        done = snakemake("--cores", "1", "--configfile", str(TINY), workdir=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode != 0
    [line] = error_lines(done)
    assert f"another workflow (pid {holder.pid} on" in line
    assert not (tmp_path / "results" / "runs").exists()  # no job started


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a host without CUDA")
def test_cuda_without_cuda_stops_at_start(tmp_path):
    done = snakemake("-n", "--configfile", str(TINY), "--config", "devices=[cpu,cuda]",
                     workdir=tmp_path)  # fmt: skip
    assert done.returncode != 0
    assert "error: config asks for device 'cuda' but torch sees no CUDA device" in done.stderr
    flagged = snakemake("-n", "--configfile", str(TINY), "--config", "devices=[cpu,cuda]",
                        "remote_devices=True", workdir=tmp_path)  # fmt: skip
    assert flagged.returncode == 0, flagged.stderr


def test_a_failed_job_says_why_in_one_line_with_its_log(tmp_path):
    # mnist_logreg's data is not in place and may not be downloaded: the download job fails.
    config = tmp_path / "missing.yaml"
    config.write_text(
        TINY.read_text()
        .replace("digits_cnn: {steps: 12, eval_every: 4, target_accuracy: 0.3}",
                 "mnist_logreg: {steps: 2, eval_every: 0}")
        .replace("  enabled: true", "  enabled: false")
    )  # fmt: skip
    done = snakemake("all", "--cores", "1", "--configfile", str(config), workdir=tmp_path)
    assert done.returncode != 0
    cause = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(cause) == 1, done.stderr[-3000:]
    assert "dataset 'mnist' is missing" in cause[0]
    assert cause[0].endswith("(log: results/logs/download/mnist.log)")
    assert "ggnbench: a job failed" in done.stdout  # and what to do: the report of what ran


def job_resources(output: str) -> list[tuple[str, str, dict[str, str]]]:
    """(rule, device wildcard, resources) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        device = re.search(r"wildcards:.*device=(\w+)", block)
        found = re.search(r"resources: (.*)", block)
        if rule and found:
            resources = dict(item.split("=", 1) for item in found.group(1).split(", "))
            jobs.append((rule.group(1), device.group(1) if device else "", resources))
    return jobs


@pytest.mark.parametrize(
    ("given", "limit"),
    [([], 1), (["--profile", str(ROOT / "profiles/gpu")], 4),
     (["--profile", str(ROOT / "profiles/gpu"), "--resources", "gpu_slot=3"], 3)],
)  # fmt: skip
def test_cuda_training_jobs_share_the_gpu_and_benchmarks_have_it_alone(tmp_path, given, limit):
    done = snakemake("-n", "--configfile", str(TINY), "--config", "devices=[cpu,cuda]",
                     "remote_devices=True", *given, workdir=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = job_resources(done.stdout + done.stderr)
    seen = set()
    for rule, device, resources in jobs:
        if rule in ("tune", "final_seeds", "bench_run", "epoch_bench_run"):
            share = {"tune": 1, "final_seeds": 1}.get(rule, limit) if device == "cuda" else 0
            assert int(resources["gpu_slot"]) == share, (rule, device, resources)
            assert int(resources["gpu"]) == (device == "cuda")  # sbatch --gpus=1
            seen.add((rule, device))
    assert {(r, "cuda") for r in ("tune", "bench_run", "epoch_bench_run")} <= seen


def assert_figure(stem: Path) -> None:
    """A PNG that is not blank and a PDF, both real files of their format."""
    from matplotlib.image import imread

    assert stem.with_suffix(".pdf").read_bytes().startswith(b"%PDF-")
    pixels = imread(stem.with_suffix(".png"))
    assert pixels.ndim == 3 and pixels.std() > 0


def run_json_files(results: Path) -> list[Path]:
    return sorted(results.glob("runs/**/run.json"))


def test_tiny_study_end_to_end_with_interruption(tmp_path):
    results = tmp_path / "results"
    args = ["all", "--cores", "2", "--configfile", str(TINY)]
    # Start, SIGKILL the whole process group once a run has finished, then rerun.
    first = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
         str(tmp_path), *args],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not run_json_files(results) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    finished = {p: p.stat().st_mtime_ns for p in run_json_files(results)}
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert finished, "no run finished before the kill"

    done = snakemake(*args, workdir=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # The run ends with its results in a few lines and the report it wrote.
    assert "digits_cnn on cpu (highest median final test accuracy: " in done.stdout
    assert done.stdout.rstrip().endswith("report: results/report.html")
    assert "ggnbench: results" in (results / "report.html").read_text()
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was redone"

    tables = results / "tables"
    runs = pd.read_csv(tables / "runs.csv")
    assert len(runs) == (2 + 2) + 2 * 2  # tuning grid points + final seeds x optimizers
    diverged = runs[runs.status == "diverged"]
    assert len(diverged) == 1 and diverged.lr.iloc[0] == 1e6
    final = pd.read_csv(tables / "final_metrics.csv")
    assert set(final.optimizer) == {"sgd", "diag_ggn_mc"} and (final.n == 2).all()
    assert len(pd.read_csv(tables / "time_per_step.csv")) == 2
    assert pd.read_csv(tables / "diverged.csv").diverged.sum() == 1
    assert set(pd.read_csv(tables / "time_to_target.csv").optimizer) == {"sgd", "diag_ggn_mc"}
    race = pd.read_csv(tables / "bench_backend_race.csv")
    assert race.extension.tolist() == ["DiagGGNMC"] and (race.ratio > 0).all()
    cost = pd.read_csv(tables / "epoch_cost.csv")  # the end-to-end benchmark, both paths
    assert len(cost) == 4 and set(cost.path) == {"pil/exact", "tensor/fast"}
    assert (cost.epoch_s > 0).all() and (cost.run_h > 0).all()
    assert len(pd.read_csv(tables / "epoch_speedup.csv")) == 2
    seed_table = pd.read_csv(tables / "seed_example.csv")
    assert seed_table.step.tolist() == [0, 50, 100, 150, 200]
    assert seed_table.ours_published_loss.notna().iloc[0]  # step 0 ran (3 steps here)
    for name in ("runs", "final_metrics", "time_per_step", "time_to_target", "diverged"):
        columns = list(pd.read_csv(tables / f"{name}.csv").columns)
        header = (tables / f"{name}.md").read_text().splitlines()[0]
        assert [c.strip() for c in header.strip("|").split("|")] == columns
        assert "\\begin{tabular}" in (tables / f"{name}.tex").read_text()
    figures = ["learning_curves", "lr_damping_heatmap", "accuracy_vs_damping", "time_per_step",
               "seed_example"]  # fmt: skip
    for name in figures:
        assert_figure(results / "figures" / name)
    report = (results / "report.html").read_text()
    assert all(f"{name}.png" in report for name in figures)
    assert "epoch_cost.csv" in report and "epoch_panel.csv" in report
    best = results / "tuning/digits_cnn/sgd/device=cpu/best.json"
    assert '"lr": 0.1' in best.read_text()

    again = snakemake(*args, "-n", workdir=tmp_path)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    # What has run is reported whatever is missing: the benchmark's results gone, the
    # report still writes, naming them.
    for path in [results / "bench" / "cpu.json", *results.glob("tables/bench_*"),
                 *results.glob("figures/bench_*")]:  # fmt: skip
        path.unlink()
    from ggnbench import cli

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert cli.main(["report", "--configfile", str(TINY)]) == 0
    finally:
        os.chdir(cwd)
    summary = (results / "report" / "summary.rst").read_text()
    assert "- table set bench: bench_overhead, bench_memory" in summary
    assert "- figure set bench: bench_overhead" in summary
    page = (results / "report.html").read_text()
    assert "ggnbench: results" in page and "bench_overhead.png" not in page

    # Lose one run, garble another, truncate a third: the same command redoes exactly those.
    runs_dir = results / "runs" / "digits_cnn"
    lost = runs_dir / "sgd/lr=0.1/device=cpu/seed=2"  # final seeds: in the chosen point's folder
    garbled = runs_dir / "diag_ggn_mc/lr=0.1/damping=0.1/device=cpu/seed=0"
    best_json = results / "tuning/digits_cnn/diag_ggn_mc/device=cpu/best.json"
    damping = json.loads(best_json.read_text())["best"]["damping"]
    truncated = runs_dir / f"diag_ggn_mc/lr=0.1/damping={damping!r}/device=cpu/seed=1"
    (lost / "run.json").unlink()
    (garbled / "run.json").write_text('{"config": ')
    metrics = (truncated / "metrics.csv").read_text().splitlines()
    (truncated / "metrics.csv").write_text("\n".join(metrics[:5]) + "\n")
    (results / "bench/epoch/cpu.csv").write_text("problem\n")  # a damaged measurement
    damaged = {lost / "run.json", garbled / "run.json", truncated / "run.json"}
    before = {p: p.stat().st_mtime_ns for p in run_json_files(results)}
    manifests = sorted(results.glob("manifests/**/*.json"))
    preview = snakemake(*args, "-n", workdir=tmp_path)  # a dry run lists, and changes nothing
    assert preview.returncode == 0 and preview.stderr.count("ggnbench: would redo") == 4
    assert {p: p.stat().st_mtime_ns for p in run_json_files(results)} == before
    assert all(p.exists() for p in manifests)
    healed = snakemake(*args, workdir=tmp_path)
    assert healed.returncode == 0, healed.stdout[-3000:] + healed.stderr[-3000:]
    assert healed.stderr.count("ggnbench: redoing") == 4
    assert len(pd.read_csv(tables / "epoch_cost.csv")) == 4  # measured again
    after = {p: p.stat().st_mtime_ns for p in run_json_files(results)}
    assert set(after) == set(before) | {lost / "run.json"}
    assert {p for p in after if before.get(p) != after[p]} == damaged
    runs = pd.read_csv(tables / "runs.csv")
    assert len(runs) == 8 and (runs.status != "ok").sum() == 1
    curves = pd.read_csv(tables / "curves.csv")
    rows = curves.groupby(["optimizer", "seed"]).size()
    assert rows.nunique() == 1  # every final run has its full curve again


def user_study(tmp_path: Path, klass: str) -> tuple[list[str], dict]:
    """A tiny study with ``klass`` beside SGD, and an environment that finds ``labopt``."""
    code = tmp_path / "elsewhere"
    code.mkdir(exist_ok=True)
    (code / "labopt.py").write_text(USER_OPTIMIZER)
    config = yaml.safe_load(TINY.read_text())
    config["final_seeds"] = [1]
    config["optimizers"] = {
        "sgd": {"lr": [0.1], "momentum": 0.9},
        "sign": {"class": klass, "lr": [0.01, 0.001], "scale": 0.5},
    }
    config["seed_example"] = {"enabled": False}
    config["bench"] = {"enabled": False}
    config["epoch_bench"] = {"enabled": False}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["--configfile", str(path)], {**os.environ, "PYTHONPATH": str(code)}


def report_file(html: str, name: str) -> str:
    """A file the HTML report embeds (base64), decoded."""
    import base64
    import re

    found = re.search(re.escape(name) + r";base64,([A-Za-z0-9+/=]+)", html)
    assert found, f"{name} is not in the report"
    return base64.b64decode(found.group(1)).decode()


def test_tiny_study_with_an_optimizer_class_from_outside_the_repository(tmp_path):
    config, env = user_study(tmp_path, "labopt:SignSGD")
    done = snakemake("all", "--cores", "2", *config, workdir=tmp_path, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tables = tmp_path / "results" / "tables"
    final = pd.read_csv(tables / "final_metrics.csv")
    sign = final[final.optimizer == "sign"]
    assert len(sign) == 4 and (sign.n == 1).all() and (sign.hparams == "scale=0.5").all()
    assert set(final.optimizer) == {"sgd", "sign"}
    runs = pd.read_csv(tables / "runs.csv")
    tuned = runs[(runs.optimizer == "sign") & (runs.stage == "tune")]
    assert sorted(tuned.run) == [
        f"results/runs/digits_cnn/sign/lr={lr}/device=cpu/seed=0" for lr in ("0.001", "0.01")
    ]
    origin = json.loads((tmp_path / tuned.run.iloc[0] / "run.json").read_text())["resolved"][
        "optimizer_origin"
    ]
    assert origin["class"] == "labopt:SignSGD"
    assert origin["module_file"] == str(tmp_path / "elsewhere" / "labopt.py")

    report = snakemake("--report", "results/report.html", *config, workdir=tmp_path, env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "results" / "report.html").read_text()
    shown = pd.read_csv(io.StringIO(report_file(html, "config.csv")))
    assert shown.set_index("key").value["optimizers/sign/class"] == '"labopt:SignSGD"'
    provenance = pd.read_csv(io.StringIO(report_file(html, "provenance.csv")))
    assert provenance.runs.sum() == len(runs)  # every run, sgd's and the class's
    assert provenance.git_commit.notna().all() and provenance.torch.notna().all()
    assert provenance.optimizer_class.str.startswith("labopt:SignSGD (").sum() == 1
    runtimes = pd.read_csv(io.StringIO(report_file(html, "job_runtimes.csv")))
    assert runtimes.set_index("rule").jobs.to_dict() == {"tune": 2, "final_seeds": 2}


#: Makes tests/new_optimizer.py and tests/new_problem.py built in, in every Python process
#: the workflow starts: the registry entries a new optimizer and a new problem need.
REGISTER_NEW_THINGS = """
from ggnbench.optimizers import optim
from ggnbench.workload import data, problems
import new_optimizer, new_problem

optim.OPTIMIZERS["diag_hessian"] = new_optimizer.SPEC
data.DATASETS["kmnist"] = new_problem.DATASET
problems.PROBLEMS["kmnist_logreg"] = new_problem.PROBLEM
"""


def test_a_new_optimizer_runs_through_the_workflow_and_the_report(tmp_path):
    # A curvature optimizer with a hyperparameter of its own (one module, one registry
    # entry) on a problem of a dataset ggnbench lacked (registry entries only): the command
    # line, the schema and the rules follow.
    from ggnbench.workload.synthetic import write_mnist
    from tests import new_problem

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(REGISTER_NEW_THINGS)
    # This checkout's package too: sitecustomize imports it before the Snakefile puts it on
    # the path (an installed ggnbench may be another checkout's).
    path = f"{site}:{ROOT / 'tests'}:{ROOT / 'src'}"
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    write_mnist(tmp_path / "data", folder="KMNIST", n_train=new_problem.TRAIN,
                n_test=new_problem.TEST)  # fmt: skip
    cli = [sys.executable, "-m", "ggnbench.cli"]
    helped = subprocess.run([*cli, "train", "--help"], capture_output=True, text=True, env=env)
    assert "--exponent" in helped.stdout and "diag_hessian" in helped.stdout
    assert "kmnist_logreg" in helped.stdout
    trained = subprocess.run(
        [*cli, "train", "--problem", "kmnist_logreg", "--optimizer", "diag_hessian", "--lr",
         "0.1", "--damping", "1", "--exponent", "0.5", "--steps", "3", "--eval-every", "0",
         "--threads", "1", "--no-download", "--data-root", str(tmp_path / "data"),
         "--out", str(tmp_path / "one")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    config = json.loads((tmp_path / "one" / "run.json").read_text())["config"]
    assert config["hparams"] == {"damping": 1.0, "exponent": 0.5}

    study = yaml.safe_load(TINY.read_text())
    study.update(final_seeds=[1], seed_example={"enabled": False}, bench={"enabled": False},
                 epoch_bench={"enabled": False})  # fmt: skip
    study["problems"] = {"kmnist_logreg": {"steps": 8, "eval_every": 4, "target_accuracy": 0.3}}
    study["optimizers"] = {
        "sgd": {"lr": [0.1], "momentum": 0.9},
        "diag_hessian": {"lr": [0.1], "damping": [1.0], "exponent": [0.5, 1.0]},
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    config = ["--configfile", str(tmp_path / "study.yaml")]
    done = snakemake("all", "--cores", "2", *config, workdir=tmp_path, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tables = tmp_path / "results" / "tables"
    runs = pd.read_csv(tables / "runs.csv")
    tuned = runs[(runs.optimizer == "diag_hessian") & (runs.stage == "tune")]
    assert sorted(tuned.run) == [
        f"results/runs/kmnist_logreg/diag_hessian/lr=0.1/damping=1.0/exponent={e}/device=cpu/seed=0"
        for e in ("0.5", "1.0")
    ]
    best = json.loads(next((tmp_path / "results").rglob("best.json")).read_text())
    final = runs[(runs.optimizer == "diag_hessian") & (runs.stage == "final")]
    assert len(final) == 1 and final.run.iloc[0].endswith(
        f"exponent={best['best']['point']['exponent']}/device=cpu/seed=1"
    )
    metrics = pd.read_csv(tables / "final_metrics.csv")
    assert set(metrics.optimizer) == {"sgd", "diag_hessian"}
    assert set(metrics.problem) == {"kmnist_logreg"}
    summary = (tmp_path / "results" / "report" / "summary.txt").read_text()
    assert "DiagHessian" in summary and "kmnist_logreg" in summary  # its registry label
    report = snakemake("--report", "results/report.html", *config, workdir=tmp_path, env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "results" / "report.html").read_text()
    shown = pd.read_csv(io.StringIO(report_file(html, "final_metrics.csv")))
    assert "diag_hessian" in set(shown.optimizer)


#: A figure of the study set that the package lacks, added as a contributor adds one: its
#: entry in FIGURE_SETS, caption included (here using the Jinja2 of snakemake's report), and
#: its drawing function registered under its name. As a sitecustomize module, every Python
#: process the workflow starts has it.
NEW_FIGURE = "final_accuracy_per_seed"
REGISTER_NEW_FIGURE = """
from ggnbench.report.figure_sets import FIGURE_SETS, Figure
from ggnbench.report.figures.registry import drawing
from ggnbench.report.styles import optimizer_styles
import matplotlib.pyplot as plt

FIGURE_SETS["study"]["final_accuracy_per_seed"] = Figure(
    ("runs",),
    "Final validation accuracy (``final_valid_accuracy``) of each final-seed run, one "
    "point per seed, on {{ snakemake.config['problems'] | join(', ') }}.",
)


@drawing("final_accuracy_per_seed")
def final_accuracy_per_seed(runs):
    final = runs[runs.stage == "final"]
    styles = optimizer_styles(final.optimizer)
    fig, ax = plt.subplots()
    for optimizer, rows in final.groupby("optimizer"):
        style = styles[optimizer]
        ax.plot(rows.seed, rows.final_valid_accuracy, ls="", marker=style.marker,
                color=style.color, label=style.label)
    ax.set(xlabel="seed", ylabel="final validation accuracy")
    ax.legend()
    return fig
"""


@pytest.fixture
def new_figure(monkeypatch):
    """REGISTER_NEW_FIGURE run in this process too; the registries as they were after."""
    from ggnbench.report.figure_sets import FIGURE_SETS
    from ggnbench.report.figures.registry import DRAWINGS

    monkeypatch.setitem(FIGURE_SETS, "study", dict(FIGURE_SETS["study"]))
    exec(REGISTER_NEW_FIGURE, {})
    yield
    del DRAWINGS[NEW_FIGURE]


def test_a_new_figure_is_one_registry_entry_and_its_drawing_function(tmp_path, new_figure):
    # The new figure through the figures command, the workflow's declared outputs and the
    # report, with nothing under rules/. No training: made-up tables stand in for a
    # study's (tests/test_figures.py), the report embeds them as they are.
    from ggnbench import cli
    from ggnbench.report import artifacts
    from ggnbench.report.figure_sets import applicable
    from ggnbench.workflow.configcheck import load_study
    from tests.test_figures import study_tables

    results = tmp_path / "results"
    study = yaml.safe_load(TINY.read_text())
    study.update(results=str(results), final_seeds=[1], seed_example={"enabled": False},
                 bench={"enabled": False}, epoch_bench={"enabled": False})  # fmt: skip
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    config = load_study(tmp_path / "study.yaml", ROOT / "config" / "schema.yaml")
    figures, tables = results / "figures", results / "tables"
    new = f"{figures}/{NEW_FIGURE}.png"
    assert applicable(config, "study")[-1] == NEW_FIGURE
    assert artifacts.expected(config)[new] == ("figure set study", NEW_FIGURE)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(REGISTER_NEW_FIGURE)
    # This checkout's package first: sitecustomize runs before the Snakefile puts it on the path.
    env = {**os.environ, "PYTHONPATH": f"{site}:{ROOT / 'src'}"}
    args = ["--configfile", str(tmp_path / "study.yaml")]

    planned = snakemake("-n", "-p", *args, workdir=tmp_path, env=env)
    assert planned.returncode == 0, planned.stderr[-3000:]
    text = planned.stdout + planned.stderr
    assert new in text and f"{figures}/{NEW_FIGURE}.pdf" in text
    assert f"--only {' '.join(applicable(config, 'study'))} --tables" in text

    tables.mkdir(parents=True)
    for frame, name in zip(study_tables(), ("runs", "curves"), strict=True):
        frame.to_csv(tables / f"{name}.csv", index=False)
    drawn = ["figures", "--only", *applicable(config, "study"), "--tables", str(tables),
             "--out", str(figures)]  # fmt: skip
    assert cli.main(drawn) == 0
    assert_figure(figures / NEW_FIGURE)

    # The report of what exists: every file of the jobs that made the figures.
    for path in artifacts.files(config, tables=("study",)):
        if not Path(path).exists():
            Path(path).write_text("made up\n")
    report = snakemake("report_targets", "--report", str(results / "report.html"), *args,
                       workdir=tmp_path, env=env)  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    html = (results / "report.html").read_text()
    assert f"{NEW_FIGURE}.png" in html
    assert "Final validation accuracy" in html and "one point per seed, on digits_cnn." in html


@pytest.mark.parametrize(
    "klass,pythonpath,words",
    [
        ("labopt:SignSDG", True, "optimizer class 'labopt:SignSDG': module 'labopt' has no"),
        ("labopt:SignSGD", False, "module 'labopt' is not importable; install its package or"),
    ],
)
def test_a_bad_import_path_fails_the_dry_run_with_one_line(tmp_path, klass, pythonpath, words):
    config, env = user_study(tmp_path, klass)
    if not pythonpath:
        env.pop("PYTHONPATH")
    done = snakemake("-n", *config, workdir=tmp_path, env=env)
    assert done.returncode != 0
    [line] = error_lines(done)
    assert words in line
    assert not (tmp_path / "results" / "runs").exists()


REAL_FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not REAL_FMNIST.is_dir(),
    reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_through_the_workflow(tmp_path):
    # The panel's settings on the real data, three steps: the download rule places the
    # package's files, the runs record them, the per-epoch table compares epoch 0 (the
    # initial networks, evaluated as DeepOBS does) with the paper's, the summary says so.
    config = yaml.safe_load((ROOT / "config" / "paper-check.yaml").read_text())
    config["problems"]["fmnist_2c2d"] = {"steps": 3, "eval_every": "epoch"}
    config["optimizers"] = {k: config["optimizers"][k] for k in ("sgd", "diag_ggn_mc")}
    config.update(final_seeds=[42], download=False, results="results")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    done = snakemake("all", "--cores", "2", "--configfile", "config.yaml", workdir=tmp_path,
                     timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    from ggnbench.workload.data import DATASETS

    results = tmp_path / "results"
    runs = pd.read_csv(results / "tables" / "runs.csv")
    assert len(runs) == 2
    for folder in runs.run:
        info = json.loads((tmp_path / folder / "run.json").read_text())
        record = info["resolved"]["data"]
        assert (
            record["source"] == "package" and record["sha256"] == DATASETS["fmnist"].content.sha256
        )
        assert info["resolved"]["evaluated_examples"]["test"] == 9984
    assert set(runs.steps_per_epoch) == {390}  # 50,000 of 60,000 images: 10,000 held out
    table = pd.read_csv(results / "tables" / "paper_epochs.csv")
    assert set(table.epoch) == {0} and set(table.optimizer) == {"Momentum", "DiagGGN-MC"}
    assert len(table) == 2 * 4  # test and train-eval accuracy and loss of each
    text = (results / "report" / "summary.rst").read_text()
    assert "source *package*" in text and "the original files" in text
    for optimizer in ("Momentum", "DiagGGN-MC"):
        assert f"     - {optimizer}\n" in text
