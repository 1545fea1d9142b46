"""The documentation site: its hook (docs/hooks.py), the schema's descriptions, test names."""

import ast
import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "docs_fixture"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
TEXTS = [*PAGES, ROOT / "README.md", ROOT / "CONTRIBUTING.md"]

spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
hooks = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = hooks  # dataclasses look their module up
spec.loader.exec_module(hooks)


def render(text, root=FIXTURE):
    ctx = hooks.Context(root)
    return hooks.expand(text, ctx, "page.md"), ctx.problems


@pytest.fixture
def copy(tmp_path):
    """A copy of the fixture root to damage."""
    shutil.copytree(FIXTURE, tmp_path / "root")
    return tmp_path / "root"


def test_a_measured_table_carries_its_command():
    text, problems = render(
        'Before.\n\n{{ measured("cpu/demo/table.csv", columns=["optimizer", "value"],\n'
        '             where={"epoch": 1}, sort=["optimizer"], headers={"value": "v"}) }}\n'
        "\nAfter.\n"
    )
    assert problems == []
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table == ["| optimizer | v |", "| --- | --- |", "| a | 0.5 |", "| b | 2.5 |"]
    assert "reference/measured/cpu/demo/table.csv" in text
    assert "`make demo`" in text and "`0000000`" in text
    assert "2000-01-01" in text and "a made-up machine" in text
    assert text.startswith("Before.") and text.endswith("After.\n")


def test_cells_are_rounded_and_escaped():
    text, problems = render('{{ measured("cpu/demo/table.csv", where={"optimizer": "a"}) }}')
    assert problems == []
    assert "| p | a | 0 | 0.1235 | inside |" in text  # four significant digits by default
    assert r"| p | a | 1 | 0.5 | in\|side |" in text
    assert hooks.cell("nan", 4) == "" and hooks.cell("12345", 2) == "12345"
    # a float with more integer digits than significant ones is a whole number, not 1.63e+03
    assert hooks.cell("1630.4", 3) == "1630" and hooks.cell("999.4", 3) == "999"
    assert hooks.cell("1000.0", 3) == "1000" and hooks.cell("0.000123456", 3) == "0.000123"


def test_an_absent_folder_shows_its_command_and_builds():
    text, problems = render('{{ measured("cpu/absent/table.csv") }}')
    assert problems == []
    assert "Not yet measured" in text and "`make absent`" in text


def test_a_missing_file_or_column_is_named(copy):
    _, problems = render('{{ measured("cpu/demo/table.csv", columns=["value", "nope"]) }}')
    assert len(problems) == 1 and "no column nope" in problems[0] and "table.csv" in problems[0]
    _, problems = render('{{ measured("cpu/demo/table.csv", sort=["nope2"]) }}')
    assert "no column nope2" in problems[0]
    _, problems = render('{{ measured("cpu/demo/table.csv", where={"epoch": 7}) }}')
    assert "no row" in problems[0]

    (copy / "reference/measured/cpu/demo/table.csv").unlink()
    _, problems = render('{{ measured("cpu/demo/table.csv") }}', copy)
    assert "reference/measured/cpu/demo/table.csv is missing" in problems[0]
    text, problems = render("{{ measurements() }}", copy)
    assert "lacks table.csv" in problems[0] and "incomplete" in text


def test_command_md_needs_its_four_lines(copy):
    command = copy / "reference/measured/cpu/demo/COMMAND.md"
    command.write_text(command.read_text().replace("commit: 0000000\n", ""))
    _, problems = render('{{ measured("cpu/demo/table.csv") }}', copy)
    assert "COMMAND.md lacks the line 'commit: ...'" in problems[0]
    command.unlink()
    _, problems = render('{{ measured("cpu/demo/table.csv") }}', copy)
    assert "COMMAND.md is missing" in problems[0]


def test_undeclared_folders_and_files_are_named(copy):
    _, problems = render('{{ measured("cpu/other/table.csv") }}')
    assert "'cpu/other' is not declared in docs/measurements.yml" in problems[0]
    _, problems = render('{{ measured("cpu/demo/other.csv") }}')
    assert "other.csv is not among the files of cpu/demo" in problems[0]
    assert hooks.undeclared_folders(FIXTURE) == []
    (copy / "reference/measured/gpu/new").mkdir(parents=True)
    assert hooks.undeclared_folders(copy) == ["gpu/new"]


def test_bad_directives_are_named_and_code_blocks_left_alone():
    _, problems = render('{{ measure("cpu/demo/table.csv") }}')
    assert "unknown directive 'measure'" in problems[0]
    _, problems = render("{{ measured(open('x')) }}")
    assert "cannot read measured" in problems[0]
    shown = '```\n{{ measured("cpu/nowhere/table.csv") }}\n```\n'
    assert render(shown) == (shown, [])
    inline = 'Write `{{ measured("cpu/nowhere/x.csv") }}` on a line of its own.\n'
    assert render(inline) == (inline, [])


def test_the_measurements_directive_lists_every_folder():
    text, problems = render("{{ measurements() }}")
    assert problems == []
    assert "### `cpu/demo`" in text and "measured 2000-01-01" in text
    assert "### `cpu/absent`" in text and "not yet measured" in text
    assert "make demo\ncp results/table.csv" in text


def test_the_paper_directive_reads_the_published_numbers():
    text, problems = render(
        '{{ paper("best_hyperparameters.csv", where={"problem": "fmnist_2c2d"}) }}', ROOT
    )
    assert problems == []
    assert "| fmnist_2c2d | KFAC |" in text and "reference/paper/README.md" in text


def test_every_schema_key_has_a_description():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    assert hooks.undescribed(schema) == []
    # The check sees a key without one.
    schema["properties"]["bench"]["properties"]["rounds"].pop("description")
    assert hooks.undescribed(schema) == [".bench.rounds"]


def test_the_configuration_reference_has_every_key():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    rows = {row["key"]: row for row in hooks.schema_rows(schema)}
    keys = [
        "results", "epoch_bench.steps", "problems.<problem>.epochs",
        "optimizers.<optimizer>.class", "optimizers.<optimizer>.<hyperparameter>",
        "optimizers.<optimizer>.per_problem.<problem>.tune", "seed_example.variants.<variant>.lr",
    ]  # fmt: skip
    for key in keys:
        assert rows[key]["description"], key
    assert all(row["description"] for row in rows.values())
    assert rows["final_seeds"]["default"] == "required"
    assert rows["epoch_bench.steps"]["default"] == "20"
    text, problems = render("{{ config_reference() }}", ROOT)
    assert problems == [] and "## `epoch_bench`" in text and "`epoch_bench.repeats`" in text


def test_the_hyperparameter_reference_is_the_registry_s():
    from ggnbench.optimizers.optim import OPTIMIZERS, hyperparameters

    text, problems = render("{{ hyperparameters() }}", ROOT)
    assert problems == []
    for name, spec in OPTIMIZERS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert all(f"`{h}`" in row for h in spec.names), row
    for h in hyperparameters().values():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{h.name}` |"))
        assert hooks.escape(h.accepts) in row and ("| yes |" in row) == (h.grid or h.required)


def test_the_docs_render_without_problems():
    # What `make docs` checks of the directives, without MkDocs: every page of the site.
    assert hooks.undeclared_folders(ROOT) == []
    for page in PAGES:
        _, problems = render(page.read_text(), ROOT)
        assert problems == [], page


def defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}


def test_the_docs_name_only_tests_that_exist():
    named = 0
    for text_file in TEXTS:
        text = text_file.read_text()
        where = text_file.relative_to(ROOT)
        # A shorthand (`::test_x` or `test_x.py::test_y` without its folder) cannot be checked.
        bare = re.findall(r"(?<![\w/.])((?:\w+\.py)?::\w+)", text)
        assert not bare, f"{where}: write tests/FILE.py::NAME in full, not {bare}"
        for file in re.findall(r"\b((?:tests|bench)/[\w/]+\.py)\b", text):
            assert (ROOT / file).is_file(), f"{where} names {file}, which does not exist"
        for file, name in re.findall(r"\b((?:tests|bench)/[\w/]+\.py)::(\w+)", text):
            assert name in defined_names(ROOT / file), f"{where} names {file}::{name}"
            named += 1
    assert named > 50  # the reliability page alone names more


def test_every_make_target_is_in_the_readme():
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE)
    readme = (ROOT / "README.md").read_text()
    assert "docs" in targets
    assert [t for t in targets if f"`make {t}`" not in readme] == []
