"""The report's evidence tables: configuration, provenance, job runtimes."""

import pandas as pd
import pytest

from ggnbench.errors import GGNBenchError
from ggnbench.report import evidence, tables
from ggnbench.run import results


def test_config_table_has_one_row_per_leaf():
    config = {"results": "r", "problems": {"digits_cnn": {"steps": 5}},
              "optimizers": {"sign": {"class": "m:C", "lr": [0.1, 0.01]}},
              "seed_example": {}}  # fmt: skip
    table = evidence.config_table(config)
    assert table.to_dict("records") == [
        {"key": "results", "value": '"r"'},
        {"key": "problems/digits_cnn/steps", "value": "5"},
        {"key": "optimizers/sign/class", "value": '"m:C"'},
        {"key": "optimizers/sign/lr", "value": "[0.1, 0.01]"},
        {"key": "seed_example", "value": "{}"},
    ]


def write_run(folder, commit, gpu=None, origin=None):
    """A complete run folder (metrics.csv and a run.json with its checksum)."""
    record = {"step": 0, "split": "valid", "loss": 1.0, "accuracy": 0.5, "time_s": 0.0}
    info = {
        "config": {}, "status": "ok", "summary": {},
        "resolved": {} if origin is None else {"optimizer_origin": origin},
        "provenance": {"python": "3.11", "versions": {"torch": "2.14.1"}, "git_commit": commit,
                       "git_dirty": False, "cpu": "cpu model", "gpu": gpu},
    }  # fmt: skip
    results.write_run(results.prepare_run_dir(folder), [record], info)
    return folder


def test_provenance_counts_runs_per_distinct_setting(tmp_path):
    origin = {"class": "m:C", "distribution": None, "version": None, "module_file": "/x/m.py",
              "module_sha256": "abcdef0123456789"}  # fmt: skip
    folders = [
        write_run(tmp_path / "a", "c1"),
        write_run(tmp_path / "b", "c2"),
        write_run(tmp_path / "c", "c1"),
        write_run(tmp_path / "d", "c1", gpu="H200"),
        write_run(tmp_path / "e", "c1", origin=origin),
    ]
    table = evidence.provenance_table(folders)
    shown = table[["git_commit", "gpu", "runs"]].fillna("-").values.tolist()
    assert shown == [["c1", "-", 2], ["c2", "-", 1], ["c1", "H200", 1], ["c1", "-", 1]]
    assert table.optimizer_class.iloc[3] == "m:C (/x/m.py sha256:abcdef012345)"
    assert table.torch.eq("2.14.1").all() and table["backpack-for-pytorch"].isna().all()
    (folders[1] / "metrics.csv").write_text("edited")
    with pytest.raises(GGNBenchError, match="metrics"):  # a damaged run is refused
        evidence.provenance_table(folders)


def test_job_runtimes_per_rule(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    files = []
    for i, (seconds, rss) in enumerate([(1.0, 100.0), (4.0, 300.0), (2.0, 200.0)]):
        path = tmp_path / f"{i}.tsv"
        path.write_text(header + f"{seconds}\t0:00:0{int(seconds)}\t{rss}\t0\t0\t0\t0\t0\t0\t1.5\n")
        files.append(str(path))
    table = evidence.job_runtimes({"tune": files[:3], "bench_run": files[:1], "none": []})
    tune = table.set_index("rule").loc["tune"]
    assert (tune.jobs, tune.total_s, tune.median_s, tune.max_s) == (3, 7.0, 2.0, 4.0)
    assert (tune.cpu_time_s, tune.max_rss_mb) == (4.5, 300.0)
    assert table.rule.tolist() == ["tune", "bench_run"]
    (tmp_path / "bad.tsv").write_text("")
    with pytest.raises(GGNBenchError, match=r"bad\.tsv is unreadable"):
        evidence.job_runtimes({"tune": [str(tmp_path / "bad.tsv")]})


def test_the_evidence_set_writes_three_tables(tmp_path):
    runs = tmp_path / "runs.csv"
    pd.DataFrame({"run": [], "status": []}).to_csv(runs, index=False)
    paths = tables.make("evidence", tmp_path / "out", config={"a": 1}, runs_table=runs, run=[],
                        benchmark=[])  # fmt: skip
    assert sorted(p.name for p in paths if p.suffix == ".csv") == [
        "config.csv", "job_runtimes.csv", "provenance.csv"
    ]  # fmt: skip
    with pytest.raises(GGNBenchError, match="is not RULE=FILE"):
        evidence.tables({}, None, [], ["no-equals-sign"])
