"""The overhead benchmark in CI: collection, one tiny combination per region, aggregation."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ggnbench.errors import GGNBenchError
from ggnbench.report import benchagg
from ggnbench.workload.problems import PROBLEMS

ROOT = Path(__file__).resolve().parents[1]


def pytest_bench(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "bench"), "-p", "no:cacheprovider", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_suite_collects_the_full_grid():
    done = pytest_bench(
        "--collect-only", "-q", "--bench-devices", "cpu",
        "--bench-networks", ",".join(PROBLEMS),
        "--bench-batch-sizes", "32,48,64,128",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [line for line in done.stdout.splitlines() if "test_overhead[" in line]
    # per network and batch size: the 12 default extensions (2 native) x 3 regions + the
    # optimizer steps of 4 DiagGGN variants, KFAC and KFLR x (step, iteration)
    assert len(ids) == 6 * 4 * (12 * 3 + 6 * 2)
    assert any("cifar10_3c3d-b128-cpu-backward-DiagGGNExact-native" in i for i in ids)
    races = [line for line in done.stdout.splitlines() if "test_race[" in line]
    assert len(races) == 6 * 4 and any(
        "mnist_cnn-b128-cpu-forward_backward-race" in r for r in races
    )


def test_unknown_selection_is_a_usage_error():
    done = pytest_bench("--collect-only", "-q", "--bench-extensions", "none,Magic")
    assert done.returncode != 0
    assert "unknown extension ['Magic']" in done.stdout + done.stderr


TINY_EXTENSIONS = (
    "none",
    "DiagGGNMC",
    "DiagGGNMC-native",
    "DiagGGNExact",
    "DiagGGNExact-native",
    "BatchGrad",
)


@pytest.fixture(scope="module")
def tiny_json(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "cpu.json"
    done = pytest_bench(
        "-q", "--bench-devices", "cpu", "--bench-networks", "digits_cnn",
        "--bench-extensions", ",".join(TINY_EXTENSIONS), "--bench-batch-sizes", "4",
        "--bench-rounds", "3", "--bench-warmup", "1", "--benchmark-json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_tiny_run_covers_every_region(tiny_json):
    data = json.loads(tiny_json.read_text())
    races = [b for b in data["benchmarks"] if b["extra_info"].get("kind") == "race"]
    data["benchmarks"] = [b for b in data["benchmarks"] if b not in races]
    regions = {b["extra_info"]["region"] for b in data["benchmarks"]}
    assert regions == {"backward", "forward_backward", "paper_call", "step", "iteration"}
    assert len(data["benchmarks"]) == 6 * 3 + 4 * 2
    (race,) = races
    times = race["extra_info"]["round_times_s"]
    assert list(times) == ["none", "DiagGGNMC", "DiagGGNMC-native", "DiagGGNExact",
                           "DiagGGNExact-native"]  # fmt: skip
    assert all(len(t) == 3 for t in times.values())
    machine = data["machine_info"]
    versions = machine["provenance"]["versions"]
    assert versions["torch"] and versions["backpack-for-pytorch"] and "cuda_available" in machine
    assert machine["provenance"]["git_commit"] and machine["provenance"]["cpu"]
    n_params = sum(p.numel() for p in PROBLEMS["digits_cnn"].model_fn().parameters())
    peak = {}
    for bench in data["benchmarks"]:
        assert bench["stats"]["rounds"] == 3
        info = bench["extra_info"]
        peak[info["region"], info["extension"]] = info["peak_memory_bytes"]
    # (in paper_call, the shuffled loader's 50,000-entry permutation can be the peak)
    assert peak["paper_call", "none"] >= 8 * 50_000
    for region in ("backward", "forward_backward"):
        # float32 gradients of every parameter are live at the end of backward
        assert peak[region, "none"] >= 4 * n_params
        # an extension keeps its per-parameter quantities on top of the gradient
        for extension in TINY_EXTENSIONS[1:]:
            assert peak[region, extension] >= peak[region, "none"] + 4 * n_params


def test_aggregation_of_a_real_benchmark_json(tiny_json):
    frame = benchagg.load_benchmarks([tiny_json])
    every = benchagg.overhead(frame)
    # every case has a row; the optimizer steps have no plain-gradient baseline, no ratio
    assert (every.status == "no baseline").sum() == 4 * 2 and every.ratio.notna().sum() == 6 * 3
    assert set(every[every.status == "no baseline"].region) == {"step", "iteration"}
    table = every[every.status == "measured"]
    assert set(table.region) == {"backward", "forward_backward", "paper_call"}
    base = table[table.extension == "none"]
    assert (base.ratio == 1.0).all()
    for row in table.itertuples():
        timing = frame[(frame.region == row.region) & (frame.extension == row.extension)].iloc[0]
        plain = frame[(frame.region == row.region) & (frame.extension == "none")].iloc[0]
        assert row.ratio == pytest.approx(timing.median_s / plain.median_s)
        assert row.ratio_low <= row.ratio <= row.ratio_high
    assert table.paper_ratio.isna().all()  # the paper never timed digits_cnn
    step = benchagg.optimizer_step(frame)
    assert set(step.extension) == {
        "DiagGGNMC",
        "DiagGGNExact",
        "DiagGGNMC-native",
        "DiagGGNExact-native",
    }
    for row in step.itertuples():
        times = frame[(frame.extension == row.extension)].set_index("region").median_s
        assert row.step_fraction_of_iteration == times["step"] / times["iteration"]
        assert row.step_ms == times["step"] * 1e3
    memory = benchagg.memory(frame)
    assert (memory[memory.extension == "none"].ratio == 1.0).all()


def test_backend_race_ratios_are_paired_round_by_round(tiny_json):
    (race,) = [
        b["extra_info"] for b in json.loads(tiny_json.read_text())["benchmarks"]
        if b["extra_info"].get("kind") == "race"
    ]  # fmt: skip
    table = benchagg.backend_race([tiny_json]).set_index("extension")
    assert list(table.index) == ["DiagGGNMC", "DiagGGNExact"]
    for name, row in table.iterrows():
        native = race["round_times_s"][f"{name}-native"]
        backpack = race["round_times_s"][name]
        paired = sorted(a / b for a, b in zip(native, backpack, strict=True))
        assert row.ratio == pytest.approx(paired[1])  # the median of three rounds
        assert row.ratio_q1 <= row.ratio <= row.ratio_q3
        assert row.native_ms == pytest.approx(sorted(native)[1] * 1e3)
        assert row.memory_ratio == pytest.approx(
            race["peak_memory_bytes"][f"{name}-native"] / race["peak_memory_bytes"][name]
        )
    assert table.loc["DiagGGNMC", "goal"] == 0.75 and table.loc["DiagGGNExact", "goal"] == 0.5


def test_paper_ratio_stands_only_beside_the_papers_timed_call():
    rows = [
        {"network": "cifar10_3c3d", "batch_size": 32, "device": "cpu", "region": region,
         "extension": extension, "median_s": median, "q1_s": median, "q3_s": median,
         "iqr_s": 0.0}
        for region in ("forward_backward", "paper_call")
        for extension, median in (("none", 1.0), ("DiagGGNMC", 2.0))
    ]  # fmt: skip
    table = benchagg.overhead(pd.DataFrame(rows)).set_index(["region", "extension"])
    assert table.loc[("paper_call", "DiagGGNMC"), "paper_ratio"] == pytest.approx(1.2855)
    assert table.loc[("paper_call", "DiagGGNMC"), "ratio"] == 2.0
    assert table.loc[("paper_call", "none"), "paper_ratio"] == 1.0
    assert table.loc[("forward_backward", "DiagGGNMC")].isna().paper_ratio
    assert "reference/paper" in table.loc[("paper_call", "DiagGGNMC"), "paper_source"]


def test_foreign_json_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"benchmarks": [{"stats": {}, "extra_info": {}}]}))
    with pytest.raises(GGNBenchError, match="without ggnbench's extra_info"):
        benchagg.load_benchmarks([path])


def test_tables_and_figures_from_the_command_line(tiny_json, tmp_path):
    from ggnbench import cli

    assert cli.main(["tables", "bench", "--json", str(tiny_json), "--out", str(tmp_path)]) == 0
    overhead = pd.read_csv(tmp_path / "bench_overhead.csv")
    assert len(overhead) == 6 * 3 + 4 * 2 and overhead.ratio.notna().sum() == 6 * 3
    assert len(pd.read_csv(tmp_path / "bench_backend_race.csv")) == 2
    assert cli.main(["figures", "--bench", "--tables", str(tmp_path), "--out", str(tmp_path)]) == 0
    from matplotlib.image import imread

    for name in ("bench_overhead", "bench_overhead_vs_batch", "bench_memory"):
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF-")
        pixels = imread(tmp_path / f"{name}.png")
        assert pixels.ndim == 3 and pixels.std() > 0  # a real, non-blank image


#: A pytest plugin for the suite: every eigendecomposition returns NaN without raising, in
#: float32 and float64, as LAPACK can; only the curvature steps that invert factors fail.
SILENT_NAN_EIGH = """
import math
import torch

_eigh = torch.linalg.eigh


def _broken(factor, UPLO="L"):
    values, vectors = _eigh(factor, UPLO=UPLO)
    values[0] = math.nan
    return values, vectors


torch.linalg.eigh = _broken
"""


def test_a_case_that_cannot_be_measured_is_a_row_and_the_rest_is_kept(tmp_path, monkeypatch):
    from ggnbench.workflow.benchsuite import run_suite

    (tmp_path / "silent_nan_eigh.py").write_text(SILENT_NAN_EIGH)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{ROOT / 'src'}")
    out, log = tmp_path / "cpu.json", tmp_path / "cpu.log"
    selection = [
        "-p", "silent_nan_eigh", "--bench-devices", "cpu", "--bench-networks", "digits_cnn",
        "--bench-extensions", "none,DiagGGNMC,KFAC", "--bench-batch-sizes", "4",
        "--bench-regions", "backward,step", "--bench-rounds", "2", "--bench-warmup", "1",
    ]  # fmt: skip
    unmeasured = run_suite(ROOT / "bench", out, log, selection)
    assert {u["case"] for u in unmeasured} == {"digits_cnn-b4-cpu-step-KFAC"}
    assert "in float64 too" in unmeasured[0]["reason"] and "\n" not in unmeasured[0]["reason"]
    assert not list(tmp_path.glob(".*.tmp"))
    tables = benchagg.tables([out])
    overhead = tables["bench_overhead"].set_index(["region", "extension"])
    assert overhead.loc[("step", "KFAC"), "status"] == "unmeasured"
    assert "in float64 too" in overhead.loc[("step", "KFAC"), "note"]
    assert overhead.loc[("backward", "KFAC"), "status"] == "measured"  # the rest is kept
    assert overhead.loc[("backward", "KFAC"), "ratio"] > 0
    # The step region has no plain-gradient baseline: DiagGGN's step is kept without a ratio.
    assert overhead.loc[("step", "DiagGGNMC"), "status"] == "no baseline"
    assert "benchmark: " in log.read_text()  # the progress line


def test_a_suite_that_stops_without_results_is_one_line_with_the_log(tmp_path):
    from ggnbench.workflow.benchsuite import run_suite

    out, log = tmp_path / "cpu.json", tmp_path / "cpu.log"
    match = r"stopped \(pytest exit 2\) without results: .*unknown extension \['Magic'\].*cpu.log"
    with pytest.raises(GGNBenchError, match=match):
        run_suite(ROOT / "bench", out, log, ["--bench-extensions", "none,Magic"])
    assert not out.exists()
