"""The study on a real one-node Slurm cluster through profiles/slurm, against a local run.

Needs root and apt (CI has both); elsewhere it skips with the reason. Installs
Debian's Slurm and munge when missing, starts a cluster on this machine, and stops
every daemon it started, by PID, also on failure.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests import slurm_cluster

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "workflow" / "tiny.yaml"
pytestmark = pytest.mark.slurm
# Rules that run in the submitting snakemake process, not through sbatch.
LOCAL_RULES = ("all", "select_best")
# Executor settings a cluster without an accounting database needs (see README, Slurm).
SLURM_ARGS = [
    "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5",
    "--slurm-no-account",
]  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = slurm_cluster.unavailable_reason()
    if reason:
        print(f"skipping the Slurm test: {reason}")
        pytest.skip(reason)
    slurm_cluster.install()
    instance = slurm_cluster.Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


def snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: int = 900):
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
           str(workdir), "--configfile", str(TINY), *args]  # fmt: skip
    return subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env
    )


def metrics_by_run(results: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for path in sorted(results.glob("runs/**/metrics.csv")):
        out[str(path.relative_to(results))] = pd.read_csv(path).drop(columns="time_s")
    for path in sorted(results.glob("seed_example/*/metrics.csv")):
        out[str(path.relative_to(results))] = pd.read_csv(path).drop(columns="time_s")
    return out


def test_study_through_slurm_equals_local_run(cluster, tmp_path):
    local = tmp_path / "local"
    done = snakemake(local, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]

    remote = tmp_path / "slurm"
    start = time.monotonic()
    done = snakemake(remote, "--profile", str(ROOT / "profiles/slurm"), "--jobs", "4",
                     *SLURM_ARGS, env=cluster.env)  # fmt: skip
    wall = time.monotonic() - start
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]

    submitted = re.findall(r"SLURM jobid (\d+)", output)
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", output, re.MULTILINE))
    assert "total" in counts, output[-3000:]
    local_jobs = sum(int(counts.get(rule, 0)) for rule in LOCAL_RULES)
    expected = int(counts["total"]) - local_jobs
    assert len(set(submitted)) == expected, f"submitted {submitted}, expected {expected}"
    known = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i %T"], capture_output=True, text=True,
        timeout=30, env=cluster.env,
    ).stdout  # fmt: skip
    states = dict(line.split() for line in known.splitlines())
    assert all(states.get(j) == "COMPLETED" for j in submitted), states
    print(f"Slurm run: {wall:.0f} s wall, sbatch job ids {sorted(set(submitted), key=int)}")

    ours, theirs = metrics_by_run(remote / "results"), metrics_by_run(local / "results")
    assert ours.keys() == theirs.keys() and len(ours) > 0
    for name in ours:
        pd.testing.assert_frame_equal(ours[name], theirs[name], obj=name)
    for name in ("final_metrics", "runs"):
        assert (remote / "results" / "tables" / f"{name}.csv").exists()


def test_failed_cluster_job_names_its_log_and_rerun_resumes(cluster, tmp_path):
    workdir = tmp_path / "failing"
    # The real-MNIST reference example cannot find its data offline: its download job fails.
    config = yaml.safe_load(TINY.read_text())
    config["seed_example"]["data"] = "mnist"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(config))
    done = snakemake(workdir, "--profile", str(ROOT / "profiles/slurm"), "--jobs", "4",
                     "--restart-times", "0", *SLURM_ARGS, "--configfile", str(broken),
                     env=cluster.env)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "results/logs/download/mnist.log" in output
    assert "dataset 'mnist' is missing" in (workdir / "results/logs/download/mnist.log").read_text()
    finished = sorted((workdir / "results").glob("runs/**/run.json"))
    assert finished, "keep-going should have finished the independent training jobs"
    mtimes = {p: p.stat().st_mtime_ns for p in finished}
    again = snakemake(workdir, "--profile", str(ROOT / "profiles/slurm"), "--jobs", "4",
                      "tables", *SLURM_ARGS, env=cluster.env)  # fmt: skip
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())
