# Shared definitions: the ggnbench command, devices, wildcard constraints, target lists.
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from ggnbench.report import artifacts  # noqa: E402
from ggnbench.workflow import benchsuite, chunks, epoch_cost, layout, lock, paths, plan_check, study  # noqa: E402
from ggnbench.errors import GGNBenchError  # noqa: E402
from ggnbench.report.figure_sets import FIGURE_SETS, applicable, outputs as figure_files  # noqa: E402
from ggnbench.report.tables import TABLE_SETS  # noqa: E402

try:
    DEVICES = study.resolve_devices(config)
    plan_check.check_plan(config)
    lock.check_writable(config["results"])
except GGNBenchError as err:
    sys.exit(f"error: {err}")

RESULTS = config["results"]
#: The report's first screen (the Snakefile's workflow-wide report description).
SUMMARY = f"{RESULTS}/report/summary.rst"
#: Its plain-text lines, printed when a run of the workflow ends.
SUMMARY_TEXT = f"{RESULTS}/report/summary.txt"
SRC = Path(workflow.basedir) / "src"
_CONDA = any("conda" in str(m).lower() for m in workflow.deployment_settings.deployment_method)
# In a conda environment its own python; otherwise the interpreter running snakemake.
PYTHON = "python" if _CONDA else shlex.quote(sys.executable)
# Every job's shell starts with bash's strict mode (snakemake's own default prefix), this
# checkout's src/ on PYTHONPATH, and three commands: ggnbench (the command line),
# ggnbench_python (the interpreter that has it), so that rules read "ggnbench sweep ...",
# and failed LOG, which prints a failed job's cause and log in one line.
shell.prefix(
    "set -euo pipefail; "
    f"export PYTHONPATH={shlex.quote(str(SRC))}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
    f"ggnbench() {{{{ {PYTHON} -m ggnbench.cli \"$@\"; }}}}; "
    f"ggnbench_python() {{{{ {PYTHON} \"$@\"; }}}}; "
    # A failed job says why in one line with its log (rules end with `|| failed {log}`).
    "failed() {{ echo \"$(grep -m1 '^error:' \"$1\" || tail -n 1 \"$1\") (log: $1)\" >&2; "
    "return 1; }}; "
)
SEED_EXAMPLE = config["seed_example"]
BENCH = config["bench"]
EPOCH_BENCH = config["epoch_bench"]
TRAIN_ENV = "../envs/train.yaml"
ANALYSIS_ENV = "../envs/analysis.yaml"


def folder_of(wildcards, output):
    """The folder of a rule's first output."""
    return str(Path(output[0]).parent)


def input_folder(wildcards, input):
    """The folder of a rule's first input."""
    return str(Path(input[0]).parent)


# The report's captions are part of the registries (FIGURE_SETS, TABLE_SETS), but
# snakemake's report() takes a caption as a file (an .rst rendered through Jinja2). Each is
# written at parse time into snakemake's own state folder of the working directory, one
# file per caption, rewritten (atomically) only when its text changed: nothing goes under
# the results folder or the checkout, and an interrupted process leaves nothing behind.
CAPTIONS = Path(".snakemake", "ggnbench-captions").resolve()


def caption_file(kind, name, text):
    """A registry's caption as report() takes it: an absolute path (used as it is)."""
    from ggnbench.run.results import atomic_write_text

    path = CAPTIONS / f"{kind}_{name}.rst"
    if not path.is_file() or path.read_text() != f"{text}\n":
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, f"{text}\n")
    return str(path)


def table_outputs(name):
    """Every file of a table set (ggnbench.report.tables), its CSV tables shown in the report."""
    table_set = TABLE_SETS[name]
    captions = {f"{RESULTS}/tables/{t}.csv": caption_file("table", t, caption)
                for t, caption in table_set.tables.items()}  # fmt: skip
    category = table_set.category
    return [
        path if path not in captions
        else report(path, caption=captions[path], category=category)
        for path in table_set.outputs(f"{RESULTS}/tables")
    ]


def drawn_files(name):
    """The files of the figures of a set that apply to this study (ggnbench.report.figure_sets)."""
    return figure_files(name, f"{RESULTS}/figures", applicable(config, name))


def figure_outputs(name, category):
    """The files of a figure set's applicable figures, their PNGs shown in the report."""
    figures = FIGURE_SETS[name]
    captions = {f: caption_file("figure", f, figures[f].caption) for f in applicable(config, name)}
    return [
        path if not path.endswith(".png")
        else report(path, caption=captions[Path(path).stem], category=category)
        for path in drawn_files(name)
    ]


def figure_inputs(name):
    """The tables that a figure set's applicable figures read."""
    figures = FIGURE_SETS[name]
    tables = dict.fromkeys(t for f in applicable(config, name) for t in figures[f].tables)
    return [f"{RESULTS}/tables/{t}.csv" for t in tables]


wildcard_constraints:
    problem="|".join(config["problems"]),
    optimizer="|".join(config["optimizers"]),
    device="|".join(DEVICES),
    chunk=r"\d+",
    dataset=r"[a-z0-9]+",
    variant=r"[A-Za-z0-9_-]+",
    ext="csv|md|tex",
    fmt="png|pdf",


def run_cli(args, log_path):
    """Run a ggnbench command in this process, its output into the log; fail on error."""
    import contextlib

    from ggnbench.cli import main

    with open(log_path, "w") as log_file:
        with contextlib.redirect_stdout(log_file), contextlib.redirect_stderr(log_file):
            status = main(args)
    if status:
        raise WorkflowError(Path(log_path).read_text().strip().splitlines()[-1])


def best_of(wildcards):
    """The best.json a final-seed job reads; none for an optimizer run at a fixed point."""
    if not study.tuned(config, wildcards.problem, wildcards.optimizer):
        return []
    return paths.best_path(config, wildcards.problem, wildcards.optimizer, wildcards.device)


def job_priority(wildcards):
    """Slow optimizers' jobs first, so that the last ones to run are short (registry cost)."""
    return study.relative_cost(config, wildcards.optimizer)


def gpu_jobs(wildcards):
    """One GPU for CUDA jobs, none otherwise (resource for cluster executors)."""
    return 1 if wildcards.device == "cuda" else 0


def gpu_slot(wildcards):
    """One slot of the GPU for a CUDA training job: --resources gpu_slot=K lets K share it."""
    return 1 if wildcards.device == "cuda" else 0


def gpu_all_slots(wildcards):
    """Every slot of the GPU for a CUDA benchmark job: it is timed with the GPU to itself."""
    if wildcards.device != "cuda":
        return 0
    # An unset resource reads as an empty Resource whose value is None.
    limit = getattr(workflow.resource_settings.resources.get("gpu_slot"), "value", None)
    return 1 if limit is None else limit


def dataset_ready(wildcards):
    """The marker of the dataset a problem needs."""
    from ggnbench.workload.problems import get_problem

    return paths.dataset_marker(config, get_problem(wildcards.problem).dataset)


def seed_example_data():
    if SEED_EXAMPLE["data"] == "synthetic":
        return f"{RESULTS}/seed_example/data/MNIST.ready"
    return paths.dataset_marker(config, "mnist")


def seed_example_root():
    if SEED_EXAMPLE["data"] == "synthetic":
        return f"{RESULTS}/seed_example/data"
    return config["data_root"]


def tuning_targets():
    return [paths.best_path(config, p, o, d) for p, o, d in study.tuned_combos(config, DEVICES)]


def final_targets():
    return chunks.manifests(config, DEVICES, "final")


def table_targets():
    return artifacts.files(config, tables=("study", "paper"))


def figure_targets():
    return artifacts.files(config, figures=("study", "paper"))


def seed_example_targets():
    return artifacts.files(config, tables=("seed-example",), figures=("seed_example",))


def bench_targets():
    return artifacts.files(config, tables=("bench",), figures=("bench",))


def epoch_bench_targets():
    return artifacts.files(config, tables=("epoch",))


def epoch_bench_data(wildcards):
    """The markers of the datasets the end-to-end benchmark reads."""
    from ggnbench.workload.problems import get_problem

    problems = {case["run"]["problem"] for case in epoch_cost.plan(config, wildcards.device)}
    datasets = sorted({get_problem(p).dataset for p in problems})
    return [paths.dataset_marker(config, d) for d in datasets]


def seed_example_runs():
    """The reference example's run folders (none when it is disabled)."""
    if not SEED_EXAMPLE["enabled"]:
        return []
    return [f"{RESULTS}/seed_example/{v}" for v in SEED_EXAMPLE["variants"]]


def benchmark_files():
    """(rule, benchmark file) of every job that has one: the report's job runtimes."""
    stages = {"tune": "tune", "final": "final_seeds"}
    pairs = [
        (rule, f"{RESULTS}/benchmarks{manifest[len(f'{RESULTS}/manifests'):-len('.json')]}.tsv")
        for stage, rule in stages.items()
        for manifest in chunks.manifests(config, DEVICES, stage)
    ]
    pairs += [("seed_example_run", f"{RESULTS}/benchmarks/seed_example/{Path(folder).name}.tsv")
              for folder in seed_example_runs()]  # fmt: skip
    if BENCH["enabled"]:
        pairs += [("bench_run", f"{RESULTS}/benchmarks/bench/{d}.tsv") for d in DEVICES]
    if EPOCH_BENCH["enabled"]:
        pairs += [("epoch_bench_run", f"{RESULTS}/benchmarks/bench/epoch-{d}.tsv")
                  for d in DEVICES]  # fmt: skip
    return pairs


def all_targets():
    """Everything the study produces: its tables and figures, then the report's summary."""
    return [*artifacts.expected(config), SUMMARY]
