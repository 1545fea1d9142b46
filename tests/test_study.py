import re
from pathlib import Path

import pytest
import yaml

from ggnbench.errors import GGNBenchError
from ggnbench.workflow import chunks, layout, paths, plan_check, study
from ggnbench.workflow.configcheck import config_error
from tests.conftest import schema_nodes

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def resolved(name: str) -> dict:
    """A shipped config with the schema's defaults that the studies rely on."""
    config = load(name)
    config.setdefault("chunk_size", 1)
    config.setdefault("eval_batch_size", 1000)
    config.setdefault("threads", 1)
    for problem in config["problems"].values():
        problem.setdefault("eval_every", 100)
    return config


@pytest.mark.parametrize(
    "name",
    [
        "config/config.yaml", "config/quick.yaml", "config/fmnist.yaml",
        "config/paper-check.yaml", "tests/workflow/tiny.yaml",
    ],
)  # fmt: skip
def test_shipped_configs_are_valid(name):
    assert config_error(load(name), SCHEMA) is None


@pytest.mark.parametrize(
    "edit,key,words",
    [
        (lambda c: c["optimizers"]["sgd"].update(lr=[]), "optimizers/sgd/lr", "non-empty"),
        (lambda c: c["optimizers"]["sgd"].update(lr=[-1]), "optimizers/sgd/lr/0", "minimum"),
        (lambda c: c["optimizers"]["sgd"].update(lr=["x"]), "optimizers/sgd/lr/0", "type"),
        (lambda c: c.update(threads=0), "threads", "minimum"),
        (lambda c: c.update(final_seeds=[]), "final_seeds", "non-empty"),
        (lambda c: c.update(devices=["tpu"]), "devices", "tpu"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(edit, key, words):
    config = load("config/quick.yaml")
    edit(config)
    message = config_error(config, SCHEMA)
    assert message is not None and "\n" not in message
    assert key in message and words in message


@pytest.mark.parametrize(
    "edit,words",
    [
        (lambda c: c["optimizers"].update(lbfgs={"lr": [1], "momentum": 0.9}),
         "optimizers/lbfgs: no built-in optimizer is named 'lbfgs'"),
        (lambda c: c["problems"].update(imagenet={"steps": 1, "eval_every": 1}),
         "problems: no problem of the registry is named 'imagenet'; use one of mnist_cnn, "),
        (lambda c: c["optimizers"]["sgd"].update(problems=["digits_cnn", "imagenet"]),
         "optimizers/sgd/problems: no problem of the registry is named 'imagenet'"),
        (lambda c: c["optimizers"]["sgd"].update(per_problem={"imagenet": {"lr": [1]}}),
         "optimizers/sgd/per_problem: no problem of the registry is named 'imagenet'"),
        (lambda c: c.update(bench={"networks": ["digits_cnn", "imagenet"]}),
         "bench/networks: no problem of the registry is named 'imagenet'"),
        (lambda c: c.update(bench={"networks": ["digits_cnn", "mnist_cnn"]}), None),
        (lambda c: c.update(problems={"in-1k": {"steps": 1}}), "'in-1k' does not match"),
        (lambda c: c["optimizers"]["diag_ggn_mc"].update(damping=[-1.0]),
         "optimizers/diag_ggn_mc on digits_cnn: damping must be a finite number >= 0, got -1.0"),
        (lambda c: c["optimizers"]["diag_ggn_mc"].update(damping=[float("inf")]),
         "numbers must be finite"),
        (lambda c: c["optimizers"]["diag_ggn_mc"].update(damping=[0.0]), None),
        (lambda c: c["optimizers"]["diag_ggn_mc"].update(backend="jax"),
         "diag_ggn_mc on digits_cnn: backend must be backpack | native, got 'jax'"),
        (lambda c: c["optimizers"]["diag_ggn_mc"].update(backend=["backpack", "native"]),
         "diag_ggn_mc on digits_cnn: backend takes one value, not a list"),
        (lambda c: c["optimizers"]["sgd"].update(backend="native"),
         "optimizers/sgd on digits_cnn: 'sgd' does not take backend; it takes lr, momentum"),
        (lambda c: c["optimizers"]["diag_ggn_mc"].update(curvature_beta=1.0),
         "curvature_beta must be a finite number >= 0 and < 1, got 1.0"),
        (lambda c: c["optimizers"]["diag_ggn_mc"].update(curvature_beta=0.0), None),
    ],
)  # fmt: skip
def test_a_hyperparameter_is_checked_against_the_registry_before_any_job(edit, words):
    # The schema holds the entry's shape; the registry its hyperparameters' names and values.
    config = resolved("config/quick.yaml")
    edit(config)
    schema_message = config_error(config, SCHEMA)
    if schema_message is not None:
        assert words is not None and words in schema_message
        return
    if words is None:
        plan_check.check_plan(config)
        return
    with pytest.raises(GGNBenchError) as err:
        plan_check.check_plan(config)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_devices():
    config = {"devices": "auto"}
    assert study.resolve_devices(config, cuda=False) == ["cpu"]
    assert study.resolve_devices(config, cuda=True) == ["cpu", "cuda"]
    assert study.resolve_devices({"devices": "auto", "remote_devices": True}, cuda=False) == [
        "cpu",
        "cuda",
    ]
    with pytest.raises(GGNBenchError, match="sees no CUDA device"):
        study.resolve_devices({"devices": ["cpu", "cuda"]}, cuda=False)
    assert study.resolve_devices({"devices": ["cuda"], "remote_devices": True}, cuda=False) == [
        "cuda"
    ]


@pytest.mark.parametrize("value", [1e-4, 0.05, 1.0, 10.0, 0.1234567891, 3e-8])
def test_path_numbers_round_trip(value):
    assert float(paths.fmt(value)) == value


def paper_rates() -> dict[tuple[str, str], float]:
    """The paper's DeepOBS baselines, from its table shipped in reference/paper."""
    from ggnbench.report import paper

    table = paper.best_settings()
    names = {"Momentum": "sgd", "Adam": "adam"}
    table = table[table.optimizer.isin(list(names))]
    return {(r.problem, names[r.optimizer]): r.lr for r in table.itertuples()}


def plan(config, stage):
    return [
        r for p, o, d in study.combos(config, ["cpu"]) for r in study.runs(config, stage, p, o, d)
    ]


def test_paper_protocol():
    config = resolved("config/config.yaml")
    plan_check.check_plan(config)
    tune, final = plan(config, "tune"), plan(config, "final")
    # DiagGGN-MC: 30-point grid on 5 problems; exact on 4 (not All-CNN-C); baselines tuned
    # only on the example's network (5 points each), fixed at DeepOBS's rates elsewhere;
    # the K-FAC family where the paper ran it: KFAC on its 4 problems, KFLR on 3, KFRA on 1.
    assert len(tune) == 5 * 30 + 4 * 30 + 2 * 5 + (4 + 3 + 1) * 30
    assert len(final) == (5 + 4 + 2 * 5 + 4 + 3 + 1) * 10
    paper = ["mnist_logreg", "fmnist_2c2d", "cifar10_3c3d", "cifar100_allcnnc"]
    ran = {o: {r["config"]["problem"] for r in tune if r["config"]["optimizer"] == o}
           for o in ("kfac", "kflr", "kfra")}  # fmt: skip
    assert ran == {"kfac": set(paper), "kflr": set(paper[:3]), "kfra": {"mnist_logreg"}}
    kfra = next(r for r in tune if r["config"]["optimizer"] == "kfra")["config"]
    assert kfra["hparams"]["curvature_average"] == "mean"
    assert kfra["hparams"]["shared_factors"] == "aliased"
    assert kfra["hparams"]["inverse_every"] == 1 and "backend" not in kfra["hparams"]
    assert {r["config"]["seed"] for r in final} == set(range(42, 52))
    assert not [
        r
        for r in tune + final
        if r["out"].startswith("results/runs/cifar100_allcnnc/diag_ggn_exact")
    ]
    outs = [r["out"] for r in tune + final]
    assert len(set(outs)) == len(outs)
    rates = paper_rates()
    assert len(rates) == 8
    for (problem, optimizer), lr in rates.items():
        runs = study.runs(config, "final", problem, optimizer, "cpu")
        assert {r["config"]["lr"] for r in runs} == {lr} and {r["protocol"] for r in runs} == {
            "fixed"
        }
        assert study.runs(config, "tune", problem, optimizer, "cpu") == []
        assert runs[0]["out"] == f"results/runs/{problem}/{optimizer}/lr={lr!r}/device=cpu/seed=42"
        if optimizer == "sgd":
            assert runs[0]["config"]["hparams"]["momentum"] == 0.9
    for problem in ("mnist_logreg", "cifar10_3c3d"):
        run = study.runs(config, "tune", problem, "diag_ggn_mc", "cpu")[0]
        assert run["config"]["hparams"]["curvature_average"] == "mean"
    example = study.runs(config, "tune", "mnist_cnn", "diag_ggn_mc", "cpu")[0]
    assert example["config"]["hparams"]["curvature_average"] == "none"
    assert (
        example["out"]
        == "results/runs/mnist_cnn/diag_ggn_mc/lr=0.0001/damping=0.0001/device=cpu/seed=0"
    )
    assert example["config"]["lr"] == 1e-4 and example["config"]["hparams"]["damping"] == 1e-4
    sgd = study.runs(config, "tune", "mnist_cnn", "sgd", "cpu")[0]
    assert sgd["config"]["hparams"] == {"momentum": 0.9}
    assert "damping" not in sgd["out"]
    best = study.runs(config, "final", "mnist_cnn", "adam", "cuda")[0]
    assert best["out"].endswith("adam/best/device=cuda/seed=42") and best["config"]["lr"] is None
    assert best["protocol"] == "tuned"


@pytest.mark.parametrize(
    "edit,words",
    [
        (lambda o: o["sgd"].update(tune=False), "not tuned (tune: false) but its grid has 2"),
        (lambda o: o["adam"].pop("lr"), "optimizers/adam on digits_cnn has no lr"),
        (lambda o: o["diag_ggn_mc"].update(per_problem={"digits_cnn": {"tune": False}}),
         "optimizers/diag_ggn_mc on digits_cnn is not tuned"),
        (lambda o: o.update(lbfgs={"lr": [1.0]}), "no built-in optimizer is named 'lbfgs'"),
        (lambda o: o.update(kfac={"lr": [1.0], "damping": [1.0], "backend": "native"}),
         "'kfac' does not take backend"),
    ],
)  # fmt: skip
def test_inconsistent_plan_is_one_line(edit, words):
    config = resolved("config/quick.yaml")
    edit(config["optimizers"])
    with pytest.raises(GGNBenchError) as err:
        plan_check.check_plan(config)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("size", [1, 4, 7, 100])
def test_chunks_partition_the_runs(size):
    config = resolved("config/quick.yaml")
    config["chunk_size"] = size
    everything = study.runs(config, "tune", "digits_cnn", "diag_ggn_exact", "cpu")
    parts = [
        chunks.chunk(config, "tune", "digits_cnn", "diag_ggn_exact", "cpu", i)
        for i in range(chunks.n_chunks(config, "tune", "digits_cnn", "diag_ggn_exact"))
    ]
    assert [r for c in parts for r in c] == everything
    assert all(0 < len(c) <= size for c in parts)


def test_one_problem_of_the_paper_config_runs_alone():
    config = resolved("config/config.yaml")
    config["problems"] = {"cifar100_allcnnc": config["problems"]["cifar100_allcnnc"]}
    plan_check.check_plan(config)
    assert study.pairs(config) == [
        ("cifar100_allcnnc", "sgd"), ("cifar100_allcnnc", "adam"),
        ("cifar100_allcnnc", "diag_ggn_mc"), ("cifar100_allcnnc", "kfac"),
    ]  # fmt: skip


def enums(schema: dict) -> list[list]:
    """Every ``enum`` list in a schema, in document order."""
    return [node["enum"] for _, node in schema_nodes(schema) if "enum" in node]


def properties(schema: dict) -> set[str]:
    """Every key a schema declares under ``properties``, anywhere."""
    return {key for _, node in schema_nodes(schema) for key in node.get("properties") or {}}


def test_schema_enums_match_the_registries():
    import sys

    from ggnbench.checks import values
    from ggnbench.optimizers.optim import OPTIMIZERS, hyperparameters
    from ggnbench.workflow import benchsuite
    from ggnbench.workload.evaluation import EvalPath
    from ggnbench.workload.loaders import Evaluation, Holdout
    from ggnbench.workload.problems import PROBLEMS
    from ggnbench.workload.tensordata import DataPath

    sys.path.insert(0, str(ROOT / "bench"))
    from cases import EXTENSIONS, REGIONS

    schema = yaml.safe_load(SCHEMA.read_text())
    found = [tuple(e) for e in enums(schema)]
    # holdouts and evaluations: each declared once, referenced where used; the problems
    # and the benchmark's default networks are the registry's alone (check_plan holds every
    # name a study gives to it), so adding a problem edits no schema
    assert found.count(values(Holdout)) == 1 and found.count(values(Evaluation)) == 1
    assert not [e for e in found if set(e) & set(PROBLEMS)]
    networks = schema["properties"]["bench"]["properties"]["networks"]
    assert "default" not in networks and benchsuite.networks({}) == list(PROBLEMS)
    assert tuple(EXTENSIONS) in found and tuple(REGIONS) in found
    assert values(DataPath) in found and values(EvalPath) in found
    # The optimizers and their hyperparameters are the registry's alone: the schema names
    # neither (one entry shape for every optimizer; its other keys are checked against the
    # registry by check_plan), so adding an optimizer or a hyperparameter edits no schema.
    keys = properties(schema["$defs"]["optimizer_entry"])
    keys |= properties(schema["properties"]["optimizers"]) | set(schema["$defs"])
    assert not keys & set(OPTIMIZERS) and not keys & set(hyperparameters())
    assert {"lr", "problems", "per_problem", "tune", "class"} <= keys
    for choices in (h.choices for h in hyperparameters().values() if h.choices):
        assert tuple(choices) not in found
    pattern = re.compile(schema["$defs"]["optimizer_entry"]["properties"]["class"]["pattern"])
    assert all(pattern.match(name) for name in OPTIMIZERS)


def test_backend_reaches_the_run_configuration():
    config = resolved("config/quick.yaml")
    config["optimizers"]["diag_ggn_exact"]["backend"] = "native"
    assert config_error(config, SCHEMA) is None
    exact = study.run_config(config, "digits_cnn", "diag_ggn_exact", {"lr": 0.1, "damping": 1.0},
                             "cpu", 0)  # fmt: skip
    mc = study.run_config(
        config, "digits_cnn", "diag_ggn_mc", {"lr": 0.1, "damping": 1.0}, "cpu", 0
    )
    assert exact["hparams"]["backend"] == "native" and mc["hparams"]["backend"] == "backpack"


def test_the_paper_config_spells_out_the_schema_defaults_it_relies_on():
    # config.yaml shows the reference example's settings and the benchmark's selection
    # instead of leaving them to the schema; they must not become a second set of values.
    schema = yaml.safe_load(SCHEMA.read_text())
    config = load("config/config.yaml")
    for section in ("seed_example", "bench"):
        defaults = {
            key: spec["default"]
            for key, spec in schema["properties"][section]["properties"].items()
            if "default" in spec
        }
        shown = {k: v for k, v in config[section].items() if k in defaults and k != "data"}
        assert shown == {k: defaults[k] for k in shown}, section
        # The synthetic stand-in's sizes (data: synthetic only) live in the schema alone.
        unshown = {"data", "synthetic_train_size", "synthetic_test_size"}
        assert set(defaults) - unshown <= set(config[section])
    assert not {"synthetic_train_size", "synthetic_test_size"} & set(config["seed_example"])


def test_an_entry_s_data_protocol_overrides_the_study_s():
    # holdout and evaluation per entry and per problem: they reach the run, not the grid.
    config = resolved("config/config.yaml")
    assert config["holdout"] == "per_seed" and config["evaluation"] == "deepobs"
    config["optimizers"]["sgd"]["holdout"] = "none"
    config["optimizers"]["sgd"]["per_problem"]["mnist_cnn"]["holdout"] = "fixed"
    config["optimizers"]["adam"]["evaluation"] = "ggnbench"
    assert config_error(config, SCHEMA) is None

    def fields(problem, optimizer, point):
        return study.run_config(config, problem, optimizer, point, "cpu", 42)

    assert fields("fmnist_2c2d", "sgd", {"lr": 2.07e-2})["holdout"] == "none"
    assert fields("mnist_cnn", "sgd", {"lr": 0.1})["holdout"] == "fixed"  # per_problem
    adam = fields("fmnist_2c2d", "adam", {"lr": 1.27e-4})
    assert adam["holdout"] == "per_seed" and adam["evaluation"] == "ggnbench"
    mc = fields("fmnist_2c2d", "diag_ggn_mc", {"lr": 1e-4, "damping": 1e-4})
    assert mc["holdout"] == "per_seed" and mc["evaluation"] == "deepobs"
    # not a grid axis, not a hyperparameter
    assert "holdout" not in study.hyperparameters(study.entry(config, "fmnist_2c2d", "sgd"))
    assert "holdout" not in study.hyperparameters(study.entry(config, "mnist_cnn", "sgd"))


def test_the_slowest_optimizers_jobs_start_first():
    # The workflow's priority per job: exact DiagGGN steps cost about four DiagGGN-MC steps
    # and ten SGD steps (fmnist_2c2d, one thread); a class by import path counts as SGD.
    config = resolved("config/paper-check.yaml")
    cost = {name: study.relative_cost(config, name) for name in config["optimizers"]}
    assert cost["diag_ggn_exact"] > 3 * cost["diag_ggn_mc"] > 3 * cost["sgd"]
    assert cost["adam"] >= cost["sgd"] == 1.0
    config["optimizers"]["mine"] = {"class": "torch.optim:RMSprop", "lr": [0.01]}
    assert study.relative_cost(config, "mine") == 1.0


def test_planned_runs_name_every_field_a_run_records():
    # select-best holds each run folder's run.json to the plan: a field the plan leaves out
    # but the run records (allow_large_curvature) made every folder look foreign.
    from ggnbench.run.config import RunConfig

    config = resolved("config/config.yaml")
    config["optimizers"]["kfra"]["per_problem"] = {"mnist_logreg": {"allow_large_curvature": True}}
    assert config_error(config, SCHEMA) is None
    for problem, optimizer in study.pairs(config):
        point = study.hparam_grid(config, problem, optimizer)[0]
        fields = study.run_config(config, problem, optimizer, point, "cpu", 42)
        recorded = RunConfig(**fields).to_dict()
        assert set(recorded) - set(fields) <= {"optimizer_class", "hparams"}, optimizer
        assert fields["allow_large_curvature"] is (optimizer == "kfra")


def test_the_workflows_patterns_and_the_studys_paths_come_from_one_layout():
    """A rule's output pattern (some parts left as wildcards) matches the study's own paths."""
    config = resolved("config/quick.yaml")
    for template, stage, path in [
        (
            layout.MANIFEST,
            "tune",
            paths.manifest_path(config, "tune", "digits_cnn", "sgd", "cpu", 3),
        ),
        (layout.BEST, None, paths.best_path(config, "digits_cnn", "sgd", "cpu")),
    ]:
        pattern = layout.fill(
            template, results=config["results"], **({"stage": stage} if stage else {})
        )
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern))
        match = re.fullmatch(regex, path)
        assert match and match["problem"] == "digits_cnn" and match["device"] == "cpu", pattern
    run = paths.run_dir(config, "digits_cnn", "sgd", "lr=0.1", "cpu", 42)
    assert run == f"{config['results']}/runs/digits_cnn/sgd/lr=0.1/device=cpu/seed=42"
    with pytest.raises(KeyError, match="'seed'"):
        layout.fill(layout.MANIFEST, seed=1)
