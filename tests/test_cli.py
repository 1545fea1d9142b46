"""The command line itself: its version, and help texts and messages held to the registries."""

from __future__ import annotations

import argparse
import ast
import re
import tomllib
from collections.abc import Callable
from importlib import metadata

import pytest
import yaml

import ggnbench
from ggnbench import cli, commands, devices
from ggnbench.checks import values
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers import averaging, curvature, optim
from ggnbench.report import tables
from ggnbench.report.figure_sets import FIGURE_SETS
from ggnbench.run import config
from ggnbench.workload import data, evaluation, loaders, problems, sources, tensordata
from tests.conftest import schema_nodes

ROOT = ggnbench.SOURCE_PYPROJECT.parent


def test_version_prints_the_package_version_and_where_it_runs_from(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out == f"ggnbench {ggnbench.__version__} from {ROOT / 'src' / 'ggnbench'}"
    try:
        installed = metadata.version("ggnbench")
    except metadata.PackageNotFoundError:  # running from a source tree
        installed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert ggnbench.__version__ == installed != ggnbench.UNKNOWN_VERSION


def test_version_falls_back_to_the_source_trees_pyproject(tmp_path, monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert ggnbench.package_version() == ours
    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\nname = "somethingelse"\nversion = "9.9"\n')
    assert ggnbench.package_version(other) == ggnbench.UNKNOWN_VERSION
    other.write_text('[project]\nname = "ggnbench"\nversion = "9.9"\n')
    assert ggnbench.package_version(other) == "9.9"
    other.write_text("[project\n")  # not TOML
    assert ggnbench.package_version(other) == ggnbench.UNKNOWN_VERSION
    assert ggnbench.package_version(tmp_path / "none.toml") == ggnbench.UNKNOWN_VERSION


# -- help texts and messages held to the registries ------------------------------------


def word(name: str) -> re.Pattern:
    """A registry name (or a source's label) as a whole word of a text."""
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")


def every_parser() -> dict[str, argparse.ArgumentParser]:
    """Every parser of the command line by its words: '' (ggnbench), 'train', 'tables paper'."""
    found, todo = {}, [("", cli.build_parser())]
    while todo:
        path, parser = todo.pop()
        found[path] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += [(f"{path} {name}".strip(), sub) for name, sub in action.choices.items()]
    return found


def entry(parser: argparse.ArgumentParser, option: str | None) -> str:
    """An option's entry in a parser's help (its choices and help), on one line.

    Returns:
        The entry; for ``option`` None, the parser's whole help (usage, description and
        every entry).

    Raises:
        KeyError: If the parser has no such option.
    """
    if option is None:
        return " ".join(parser.format_help().split())
    for action in parser._actions:
        if option in action.option_strings or action.dest == option:
            return " ".join(parser._get_formatter()._format_action(action).split())
    raise KeyError(f"no option {option} in {parser.prog}")


def offered() -> list[tuple[str, str | None, list[str]]]:
    """Where each registry is offered: (parser, option or None for its whole help, names)."""
    figure_flags = [f"--{n.replace('_', '-')}" for n in FIGURE_SETS if n != "study"]
    return [
        ("", "command", list(commands.COMMANDS)),
        ("", "command", list(tables.TABLE_SETS)),  # the tables command's one line
        ("train", "--problem", list(problems.PROBLEMS)),
        ("train", "--optimizer", list(optim.OPTIMIZERS)),
        ("train", "--holdout", list(values(loaders.Holdout))),
        ("train", "--evaluation", list(values(loaders.Evaluation))),
        ("train", "--data-path", list(values(tensordata.DataPath))),
        ("train", "--eval-path", list(values(evaluation.EvalPath))),
        ("train", "--backend", list(values(curvature.Backend))),
        ("train", "--curvature-average", list(values(averaging.CurvatureAverage))),
        ("train", "--shared-factors", list(values(averaging.SharedFactors))),
        ("train", "--device", list(devices.DEVICE_NAMES)),
        ("epoch-bench", "--paths", [*values(tensordata.DataPath), *values(evaluation.EvalPath)]),
        ("download", "dataset", list(data.DATASETS)),
        ("download", None, list(data.DATASETS)),
        ("download", None, [s.label for s in sources.SOURCES.values()]),
        ("download", None, [d.package[0] for d in data.DATASETS.values() if d.package]),
        ("synth-mnist", "--folder", MNIST_FORMAT),
        ("tables", "set", list(tables.TABLE_SETS)),
        ("figures", None, list(FIGURE_SETS)),
        ("figures", None, figure_flags),
    ]


#: torchvision's folders of the MNIST-format datasets (what synth-mnist writes).
MNIST_FORMAT = [d.torchvision for d in data.DATASETS.values() if d.content is not None]


def test_every_registry_name_is_in_the_help_where_its_registry_is_offered(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per entry: no word broken at a hyphen
    parsers = every_parser()
    assert set(parsers) >= {"", *commands.COMMANDS, *(f"tables {n}" for n in tables.TABLE_SETS)}
    for path, option, registry in offered():
        text = entry(parsers[path], option)
        missing = [name for name in registry if not word(name).search(text)]
        assert not missing, f"ggnbench {path} {option or '--help'} lacks {missing}: {text}"
    # every option with choices is a registry's, offered in full and in registry order (the
    # first row of an option names the registry of its choices)
    rows: dict[tuple[str, str | None], list[str]] = {}
    for path, option, registry in offered():
        rows.setdefault((path, option), registry)
    for path, parser in parsers.items():
        for action in parser._actions:
            if action.choices is None:
                continue
            option = action.option_strings[0] if action.option_strings else action.dest
            assert (path, option) in rows, f"ggnbench {path} {option}: whose registry?"
            assert list(action.choices) == rows[path, option], f"ggnbench {path} {option}"


def test_each_hyperparameter_option_names_exactly_the_optimizers_taking_it(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    parser = every_parser()["train"]

    def named(text):
        return {name for name in optim.OPTIMIZERS if word(name).search(text)}

    for hyperparameter in optim.hyperparameters():
        text = entry(parser, "--" + hyperparameter.replace("_", "-"))
        taking = {n for n, s in optim.OPTIMIZERS.items() if hyperparameter in s.names}
        assert named(text) == taking, f"--{hyperparameter}: {text}"
    dense = {
        name
        for name, spec in optim.OPTIMIZERS.items()
        if spec.curvature is not None and spec.curvature.dense_backpropagation
    }
    assert dense and named(entry(parser, "--allow-large-curvature")) == dense


def unknown_value_errors() -> list[tuple[str, Callable[[], object], list[str]]]:
    """Each check of a name against a registry: (what, a call given an unknown name, names)."""

    def run_config(**fields):
        return lambda: config.RunConfig("digits_cnn", "sgd", lr=0.1, steps=1, **fields).validate()

    from ggnbench.workflow import epoch_cost

    return [
        ("problem", lambda: problems.get_problem("nope"), list(problems.PROBLEMS)),
        ("optimizer", lambda: optim.get_spec("nope"), list(optim.OPTIMIZERS)),
        ("dataset", lambda: data.get_dataset("nope"), list(data.DATASETS)),
        ("device", lambda: devices.resolve_device("nope"), list(devices.DEVICE_NAMES)),
        ("table set", lambda: tables.make("nope", "."), list(tables.TABLE_SETS)),
        ("holdout", run_config(holdout="nope"), list(values(loaders.Holdout))),
        ("evaluation", run_config(evaluation="nope"), list(values(loaders.Evaluation))),
        ("data path", run_config(data_path="nope"), list(values(tensordata.DataPath))),
        ("eval path", run_config(eval_path="nope"), list(values(evaluation.EvalPath))),
        (
            "epoch-bench path",
            lambda: epoch_cost.parse_path("nope/nope"),
            [*values(tensordata.DataPath), *values(evaluation.EvalPath)],
        ),
    ]


@pytest.mark.parametrize(
    "what,call,registry", unknown_value_errors(), ids=[w for w, _, _ in unknown_value_errors()]
)
def test_an_unknown_name_is_answered_with_every_name_of_its_registry(what, call, registry):
    with pytest.raises(GGNBenchError) as err:
        call()
    missing = [name for name in registry if not word(name).search(str(err.value))]
    assert not missing, f"{what}: {err.value}"


#: Registries whose names a message or help text might list by hand.
def registries() -> dict[str, list[str]]:
    """Every registry of names the command line offers."""
    return {
        "COMMANDS": list(commands.COMMANDS),
        "OPTIMIZERS": list(optim.OPTIMIZERS),
        "PROBLEMS": list(problems.PROBLEMS),
        "DATASETS": list(data.DATASETS),
        "MNIST_FORMAT": MNIST_FORMAT,
        "SOURCES": list(sources.SOURCES),
        "Holdout": list(values(loaders.Holdout)),
        "Evaluation": list(values(loaders.Evaluation)),
        "DataPath": list(values(tensordata.DataPath)),
        "EvalPath": list(values(evaluation.EvalPath)),
        "Backend": list(values(curvature.Backend)),
        "CurvatureAverage": list(values(averaging.CurvatureAverage)),
        "SharedFactors": list(values(averaging.SharedFactors)),
        "DEVICE_NAMES": list(devices.DEVICE_NAMES),
        "TABLE_SETS": list(tables.TABLE_SETS),
        "FIGURE_SETS": list(FIGURE_SETS),
        "HYPERPARAMETERS": list(optim.hyperparameters()),
    }


#: Calls whose string arguments a user reads: messages, help texts and descriptions.
MESSAGE_CALLS = {
    "GGNBenchError", "StepFailure", "MissingData", "ArgumentTypeError", "add_argument",
    "add_parser", "print", "warn",
}  # fmt: skip

#: Two names of one registry written one after the other, as a list is: "a, b", "a or b",
#: "a/b", "'a' and 'b'".
LIST_SEPARATOR = r"""['"`]?\s*(?:,\s*or\b|,\s*and\b|,|\bor\b|\band\b|/|\|)\s*['"`]?"""


def listed_in(text: str) -> list[tuple[str, str]]:
    """The lists of two or more names of one registry in a text: ``(registry, the list)``."""
    found = []
    for registry, names in registries().items():
        any_name = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        one = rf"(?<![\w-])(?:{any_name})(?![\w-])"
        listed = re.search(rf"{one}{LIST_SEPARATOR}{one}", text)
        if listed:
            found.append((registry, listed.group(0)))
    return found


def test_no_schema_description_lists_a_registrys_names_by_hand():
    # The schema's enums are held to their registries (tests/test_study.py); its words
    # must not list names either: an optimizer or a hyperparameter added would be missing.
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    texts = [(path, node["description"]) for path, node in schema_nodes(schema)
             if isinstance(node.get("description"), str)]  # fmt: skip
    assert len(texts) > 50  # the scan sees them
    found = [f"{path}: {registry} {what}" for path, text in texts
             for registry, what in listed_in(text)]  # fmt: skip
    assert not found, "names typed by hand; take them from the registry:\n" + "\n".join(found)
    # and it would see one
    assert listed_in("a curvature optimizer (diag_ggn_mc, kfac)") == [
        ("OPTIMIZERS", "diag_ggn_mc, kfac")
    ]


def hand_typed_lists(source: str) -> list[tuple[int, str, str]]:
    """The lists of registry names typed by hand into the messages of some Python source.

    Returns:
        ``(line, registry, what was found)`` per message.
    """
    found = []
    for call in ast.walk(ast.parse(source)):
        if not isinstance(call, ast.Call):
            continue
        called = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
        if called not in MESSAGE_CALLS:
            continue
        strings = [
            n for n in ast.walk(call) if isinstance(n, ast.Constant) and isinstance(n.value, str)
        ]
        text = "".join(n.value for n in strings)
        literals = [
            [e.value for e in n.elts if isinstance(e, ast.Constant)]
            for n in ast.walk(call)
            if isinstance(n, ast.List | ast.Tuple | ast.Set)
        ]
        found += [(call.lineno, registry, what) for registry, what in listed_in(text)]
        for registry, names in registries().items():
            for literal in literals:
                if len([v for v in literal if v in names]) >= 2:
                    found.append((call.lineno, registry, repr(literal)))
    return found


def test_no_message_lists_a_registrys_names_by_hand():
    package = ROOT / "src" / "ggnbench"
    found = [
        f"{path.name}:{line}: {registry} {what}"
        for path in sorted(package.rglob("*.py"))
        for line, registry, what in hand_typed_lists(path.read_text())
    ]
    assert not found, "names typed by hand; take them from the registry:\n" + "\n".join(found)


def test_the_scan_finds_what_the_command_line_once_typed_by_hand():
    typed = """
p.add_argument("--optimizer", help="sgd, adam, diag_ggn_mc or diag_ggn_exact; ...")
p.add_argument("--holdout", choices=["fixed", "per_seed", "none"], help="validation holdout")
raise GGNBenchError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto")
p.add_argument("--problem", help="problem name, e.g. mnist_cnn or digits_cnn")
p.add_argument("--folder", default="MNIST", choices=["MNIST", "FashionMNIST"])
raise GGNBenchError(f"unknown holdout {value!r}; use one of {list(values(Holdout))}")
p.add_argument("--backend", choices=list(BACKENDS), help="a native backend; or backpack")
"""
    found = {(line, registry) for line, registry, _ in hand_typed_lists(typed)}
    assert found == {
        (2, "OPTIMIZERS"), (3, "Holdout"), (4, "DEVICE_NAMES"), (5, "PROBLEMS"),
        (6, "MNIST_FORMAT"),
    }  # fmt: skip
