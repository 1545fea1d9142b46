"""MkDocs hooks: measured tables from committed files, and the configuration reference.

A directive stands alone on its lines, outside code blocks, and takes literal arguments::

    {{ measured("cpu/paper-check/paper_epochs.csv", columns=["optimizer", "epoch"],
                where={"metric": "test_accuracies"}, sort=["optimizer"], digits=4) }}
    {{ paper("best_hyperparameters.csv", where={"problem": "fmnist_2c2d"}) }}
    {{ measurements() }}
    {{ config_reference() }}
    {{ hyperparameters() }}

``measured`` reads ``reference/measured/<device>/<name>/<file>.csv`` and renders the
selected rows and columns as a table, with the command, date, commit and machine of the
folder's ``COMMAND.md`` beneath it. Every folder is declared, with its files and the
command that makes it, in ``docs/measurements.yml``. A declared folder that is absent
renders a note with that command; anything else that is wrong (an undeclared folder, a
missing file, column or ``COMMAND.md`` field, a selection without rows) is a warning
naming it, which fails ``mkdocs build --strict``. ``paper`` reads the paper's published
numbers in ``reference/paper/``. ``measurements`` lists the declared folders and their
state; ``config_reference`` renders ``config/schema.yaml``, one row per key;
``hyperparameters`` renders the optimizer registry's hyperparameters.
"""

from __future__ import annotations

import ast
import csv
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Under the ``mkdocs`` logger: a warning counts, and fails a strict build.
log = logging.getLogger("mkdocs.hooks.ggnbench")

MEASURED = Path("reference") / "measured"
PAPER = Path("reference") / "paper"
REGISTRY = Path("docs") / "measurements.yml"
SCHEMA = Path("config") / "schema.yaml"
#: The fields every ``COMMAND.md`` gives, one ``field: value`` line each.
COMMAND_FIELDS = ("command", "date", "commit", "machine")

DIRECTIVE = re.compile(r"^\{\{\s*(\w+)\((.*?)\)\s*\}\}[ \t]*$", re.MULTILINE | re.DOTALL)
FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
FIELD = re.compile(r"^\s*(?:[-*]\s+)?(\w+)\s*:\s*(.*?)\s*$")


@dataclass
class Context:
    """What the directives read, and the problems they found.

    Attributes:
        root: The repository root (the folder of ``mkdocs.yml``).
        problems: One line per problem found, each naming the file or key.
    """

    root: Path
    problems: list[str] = field(default_factory=list)

    def problem(self, where: str, message: str) -> str:
        """Record a problem and return the text that marks it in the page.

        Args:
            where: The page or file the problem is in.
            message: What is wrong.

        Returns:
            A Markdown admonition saying it.
        """
        self.problems.append(f"{where}: {message}")
        return f'!!! danger "Build problem"\n    {escape(message)}\n'

    def registry(self) -> dict[str, dict[str, Any]]:
        """The declared measurement folders (``docs/measurements.yml``).

        Returns:
            Folder (``<device>/<name>``) to its entry: ``what``, ``files``, ``command``.
        """
        path = self.root / REGISTRY
        return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def read_command(folder: Path) -> tuple[dict[str, str], list[str]]:
    """The fields of a measurement folder's ``COMMAND.md``.

    Args:
        folder: The measurement folder.

    Returns:
        The fields found (``command``, ``date``, ``commit``, ``machine``, lower case), and
        what is missing.
    """
    path = folder / "COMMAND.md"
    if not path.is_file():
        return {}, [f"{path} is missing (it gives {', '.join(COMMAND_FIELDS)})"]
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = FIELD.match(line)
        if match and match[1].lower() in COMMAND_FIELDS and match[2]:
            fields.setdefault(match[1].lower(), match[2].strip("`").strip())
    missing = [f for f in COMMAND_FIELDS if f not in fields]
    return fields, [f"{path} lacks the line '{f}: ...'" for f in missing]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV file's header and rows, as text.

    Args:
        path: The file.

    Returns:
        The column names and one dictionary per row.
    """
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def cell(value: str, digits: int) -> str:
    """A table cell: floats to ``digits`` significant digits (whole above), ``|`` escaped.

    Args:
        value: The CSV text.
        digits: Significant digits of a float.

    Returns:
        The Markdown text.
    """
    if re.fullmatch(r"-?\d+", value):
        return value
    try:
        number = float(value)
    except ValueError:
        return escape(value)
    if number != number:
        return ""
    if abs(number) >= 10**digits and abs(number) < 1e15:
        return f"{number:.0f}"  # 1630, not 1.63e+03: a whole number reads plainly
    return f"{number:.{digits}g}"


def matches(value: str, wanted: Any) -> bool:
    """Whether a CSV cell equals a wanted value (a list: any of them), as text or number.

    Args:
        value: The CSV text.
        wanted: A literal, or a list of literals.

    Returns:
        True if it matches.
    """
    if isinstance(wanted, list):
        return any(matches(value, w) for w in wanted)
    if isinstance(wanted, bool) or not isinstance(wanted, int | float):
        return value == str(wanted)
    try:
        return float(value) == float(wanted)
    except ValueError:
        return False


def table(
    path: Path,
    label: str,
    columns: list[str] | None = None,
    where: dict[str, Any] | None = None,
    sort: list[str] | None = None,
    headers: dict[str, str] | None = None,
    digits: int = 4,
) -> tuple[str | None, str | None]:
    """A CSV file's selected rows and columns as a Markdown table.

    Args:
        path: The CSV file.
        label: How messages name the file.
        columns: Columns to show, in order (default: all).
        where: Column to required value (or list of values).
        sort: Columns to sort by (numbers as numbers).
        headers: Column to the header shown for it.
        digits: Significant digits of floats.

    Returns:
        The table and None, or None and what is wrong.
    """
    if not path.is_file():
        return None, f"{label} is missing"
    header, rows = read_csv(path)
    columns = columns or header
    named = [*columns, *(where or {}), *(sort or []), *(headers or {})]
    missing = [c for c in dict.fromkeys(named) if c not in header]
    if missing:
        return None, f"{label} has no column {', '.join(missing)} (it has {', '.join(header)})"
    rows = [r for r in rows if all(matches(r[c], v) for c, v in (where or {}).items())]
    if not rows:
        return None, f"no row of {label} matches {where}"
    for column in reversed(sort or []):
        rows.sort(key=lambda r, c=column: _sort_key(r[c]))
    shown = [escape((headers or {}).get(c, c)) for c in columns]
    lines = ["| " + " | ".join(shown) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c], digits) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n", None


def escape(text: str) -> str:
    """Text for a table cell: ``|`` escaped, whitespace folded.

    Args:
        text: The text.

    Returns:
        The cell's Markdown.
    """
    return " ".join(text.split()).replace("|", r"\|")


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def measured(ctx: Context, where_in: str, path: str, **options: Any) -> str:
    """The ``measured`` directive: a committed measurement's table and its command.

    Args:
        ctx: The context.
        where_in: The page (for messages).
        path: ``<device>/<name>/<file>.csv`` under ``reference/measured/``.
        **options: ``columns``, ``where``, ``sort``, ``headers``, ``digits`` (see
            :func:`table`).

    Returns:
        Markdown: the table with its provenance, a note with the command when the folder
        is not in the tree, or the problem.
    """
    name, _, file = path.rpartition("/")
    entry = ctx.registry().get(name)
    if entry is None:
        return ctx.problem(where_in, f"measurement folder {name!r} is not declared in {REGISTRY}")
    if file not in entry.get("files", []):
        return ctx.problem(where_in, f"{file} is not among the files of {name} in {REGISTRY}")
    folder = ctx.root / MEASURED / name
    if not folder.is_dir():
        return (
            f'!!! warning "Not yet measured"\n    `{MEASURED / name}/` is not in this tree; '
            f"it is made by `{one_line(entry['command'])}`.\n"
        )
    fields, missing = read_command(folder)
    if missing:
        return ctx.problem(where_in, "; ".join(missing))
    text, error = table(folder / file, str(MEASURED / path), **options)
    if error:
        return ctx.problem(where_in, error)
    return f"{text}\n{provenance(path, fields)}\n"


def one_line(command: str) -> str:
    """A command of several lines as one, its lines joined by ``&&``.

    Args:
        command: The command.

    Returns:
        One line.
    """
    return " && ".join(line.strip() for line in command.strip().splitlines() if line.strip())


def provenance(path: str, fields: dict[str, str]) -> str:
    """The line beneath a measured table: its file, command, commit, date and machine.

    Args:
        path: The file under ``reference/measured/``.
        fields: The folder's ``COMMAND.md`` fields.

    Returns:
        One line of Markdown.
    """
    return (
        f"*From* `{MEASURED / path}`*, made by* `{fields['command']}` *at commit*"
        f" `{fields['commit']}`*, {fields['date']}, on {fields['machine']}.*"
    )


def paper(ctx: Context, where_in: str, file: str, **options: Any) -> str:
    """The ``paper`` directive: one of the paper's published tables (``reference/paper/``).

    Args:
        ctx: The context.
        where_in: The page (for messages).
        file: A CSV file of ``reference/paper/``.
        **options: As for :func:`table`.

    Returns:
        Markdown: the table and its source, or the problem.
    """
    text, error = table(ctx.root / PAPER / file, str(PAPER / file), **options)
    if error:
        return ctx.problem(where_in, error)
    return f"{text}\n*From* `{PAPER / file}` *(its sources: `{PAPER / 'README.md'}`).*\n"


def measurements(ctx: Context, where_in: str) -> str:
    """The ``measurements`` directive: every declared folder, its files, state and command.

    Args:
        ctx: The context.
        where_in: The page (for messages).

    Returns:
        Markdown: one section per folder.
    """
    parts = []
    for name, entry in ctx.registry().items():
        folder = ctx.root / MEASURED / name
        state, problem = "not yet measured.", ""
        if folder.is_dir():
            fields, missing = read_command(folder)
            absent = [f for f in entry.get("files", []) if not (folder / f).is_file()]
            if absent:
                missing.append(f"{MEASURED / name} lacks {', '.join(absent)}")
            if missing:
                state, problem = "incomplete.", ctx.problem(where_in, "; ".join(missing))
            else:
                state = (
                    f"measured {fields['date']} at commit `{fields['commit']}` on "
                    f"{fields['machine']}; made by `{fields['command']}`."
                )
        files = ", ".join(f"`{f}`" for f in entry.get("files", []))
        parts.append(
            f"### `{name}`\n\n{' '.join(entry['what'].split())}\n\n"
            f"Files: {files}.\n\nState: {state}\n\n{problem}\n"
            f"```bash\n{entry['command'].strip()}\n```\n"
        )
    return "\n".join(parts)


def undeclared_folders(root: Path) -> list[str]:
    """Measurement folders in the tree that ``docs/measurements.yml`` does not declare.

    Args:
        root: The repository root.

    Returns:
        Their names, ``<device>/<name>``.
    """
    declared = Context(root).registry()
    found = sorted(f"{d.parent.name}/{d.name}" for d in (root / MEASURED).glob("*/*") if d.is_dir())
    return [name for name in found if name not in declared]


# The configuration reference ------------------------------------------------------------

#: The name a key's children are listed under, where any name is allowed.
PLACEHOLDERS = {
    "problems": "<problem>",
    "per_problem": "<problem>",
    "variants": "<variant>",
    "optimizers": "<optimizer>",
}


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A schema node with its ``$ref`` followed (the node's own keys win).

    Args:
        schema: The whole schema.
        node: A node.

    Returns:
        The merged node.
    """
    if "$ref" not in node:
        return node
    target: Any = schema
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    merged = {**resolve(schema, target), **node}
    merged.pop("$ref")
    return merged


def kind(schema: dict[str, Any], node: dict[str, Any]) -> str:
    """A node's type in words: enum values, type, ranges, list items, alternatives.

    Args:
        schema: The whole schema.
        node: A node.

    Returns:
        The text.
    """
    node = resolve(schema, node)
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    if "oneOf" in node:
        return " or ".join(kind(schema, n) for n in node["oneOf"])
    if "if" in node:
        return "object"
    text = node.get("type", "any")
    text = " or ".join(text) if isinstance(text, list) else text
    if text == "array" and "items" in node:
        text = f"list of {kind(schema, node['items'])}"
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                      ("exclusiveMaximum", "<")):  # fmt: skip
        if key in node:
            text += f", {sign} {node[key]}"
    return text


def schema_rows(schema: dict[str, Any]) -> list[dict[str, str]]:
    """One row per key of the study configuration, nested keys as dotted paths.

    Args:
        schema: The schema (``config/schema.yaml``).

    Returns:
        Rows with ``key``, ``type``, ``default`` and ``description``.
    """
    rows: list[dict[str, str]] = []

    def visit(path: str, node: dict[str, Any], required: bool) -> None:
        node = resolve(schema, node)
        default = json.dumps(node["default"]) if "default" in node else ""
        rows.append({
            "key": path,
            "type": kind(schema, node),
            "default": "required" if required else default,
            "description": " ".join(str(node.get("description", "")).split()),
        })  # fmt: skip
        children(path, node)

    def children(path: str, node: dict[str, Any]) -> None:
        needed = set(node.get("required", []))
        for key, sub in (node.get("properties") or {}).items():
            visit(f"{path}.{key}" if path else key, sub, key in needed)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            extra = resolve(schema, extra)
            name = PLACEHOLDERS.get(path.rpartition(".")[2], "<name>")
            if extra.get("type") == "object" or "properties" in extra:
                children(f"{path}.{name}", extra)
            else:  # any other key is a value of this kind (a constructor argument)
                visit(f"{path}.<hyperparameter>", extra, False)

    children("", schema)
    return rows


def undescribed(schema: dict[str, Any]) -> list[str]:
    """Keys without a description, their own or their ``$ref`` target's.

    Args:
        schema: The schema.

    Returns:
        The keys, as dotted paths of the schema document.
    """
    found = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, path)
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == "properties":
                for name, sub in value.items():
                    if "description" not in resolve(schema, sub):
                        found.append(f"{path}.{name}")
                    walk(sub, f"{path}.{name}")
            elif key != "default":
                walk(value, f"{path}/{key}" if isinstance(value, dict | list) else path)

    walk(schema, "")
    return found


def config_reference(ctx: Context, where_in: str) -> str:
    """The ``config_reference`` directive: the schema as tables, one per section.

    Args:
        ctx: The context.
        where_in: The page (for messages).

    Returns:
        Markdown: top-level keys, then one heading and table per section.
    """
    schema = yaml.safe_load((ctx.root / SCHEMA).read_text())
    for key in undescribed(schema):
        ctx.problem(where_in, f"{SCHEMA}: key {key} has no description")
    rows = schema_rows(schema)
    sections: dict[str, list[dict[str, str]]] = {"": []}
    for row in rows:
        top = row["key"].split(".")[0]
        if "." in row["key"] or any(r["key"].startswith(f"{top}.") for r in rows):
            sections.setdefault(top, []).append(row)
        else:
            sections[""].append(row)
    out = []
    for name, part in sections.items():
        out.append(f"## `{name}`\n" if name else "## Top-level keys\n")
        lines = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
        lines += [
            f"| `{r['key']}` | {r['type']} | {'`' + r['default'] + '`' if r['default'] else ''}"
            f" | {escape(r['description'])} |"
            for r in part
        ]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def hyperparameters(ctx: Context, where_in: str) -> str:
    """The ``hyperparameters`` directive: the built-in optimizers' hyperparameters.

    Read from the registry (``ggnbench.optimizers.optim.OPTIMIZERS``), the one place they
    are declared: a study's optimizer entry and ``ggnbench train`` take exactly these.

    Args:
        ctx: The context.
        where_in: The page (for messages).

    Returns:
        Markdown: one table of the optimizers, one of the hyperparameters.
    """
    import sys

    sys.path.insert(0, str(ctx.root / "src"))
    from ggnbench.optimizers.optim import OPTIMIZERS
    from ggnbench.optimizers.optim import hyperparameters as declared

    lines = ["| optimizer | label | hyperparameters besides `lr` |", "| --- | --- | --- |"]
    for name, spec in OPTIMIZERS.items():
        taken = ", ".join(f"`{h}`" for h in spec.names) or "none"
        lines.append(f"| `{name}` | {escape(spec.label or name)} | {taken} |")
    lines += ["", "| key | values | grid axis | required | description |",
              "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for h in declared().values():
        lines.append(
            f"| `{h.name}` | {escape(h.accepts)} | {'yes' if h.grid else 'no'} "
            f"| {'yes' if h.required else 'no'} | {escape(h.help)} |"
        )
    return "\n".join(lines) + "\n"


# Expansion and the MkDocs events --------------------------------------------------------

DIRECTIVES = {
    "measured": measured,
    "paper": paper,
    "measurements": measurements,
    "config_reference": config_reference,
    "hyperparameters": hyperparameters,
}


def call(ctx: Context, where_in: str, name: str, arguments: str) -> str:
    """Run one directive on its literal arguments.

    Args:
        ctx: The context.
        where_in: The page (for messages).
        name: The directive.
        arguments: The text between its parentheses.

    Returns:
        Its Markdown, or the problem.
    """
    if name not in DIRECTIVES:
        return ctx.problem(where_in, f"unknown directive {name!r}; use one of {list(DIRECTIVES)}")
    try:
        parsed = ast.parse(f"f({arguments})", mode="eval").body
        assert isinstance(parsed, ast.Call)
        args = [ast.literal_eval(a) for a in parsed.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in parsed.keywords if k.arg}
        return DIRECTIVES[name](ctx, where_in, *args, **kwargs)
    except (SyntaxError, ValueError, TypeError, AssertionError) as err:
        return ctx.problem(where_in, f"cannot read {name}({arguments}): {err}")


def expand(markdown: str, ctx: Context, where_in: str) -> str:
    """Replace every directive outside fenced code blocks by its Markdown.

    Args:
        markdown: A page's Markdown.
        ctx: The context.
        where_in: The page (for messages).

    Returns:
        The expanded Markdown.
    """
    out, start = [], 0
    for fence in [*FENCE.finditer(markdown), None]:
        end = fence.start() if fence else len(markdown)
        out.append(DIRECTIVE.sub(lambda m: call(ctx, where_in, m[1], m[2]), markdown[start:end]))
        if fence:
            out.append(fence[0])
            start = fence.end()
    return "".join(out)


def on_files(files: Any, config: Any) -> Any:
    """Add CONTRIBUTING.md to the site as ``contributing.md``.

    Args:
        files: The site's files.
        config: The MkDocs configuration.

    Returns:
        The files.
    """
    from mkdocs.structure.files import File

    root = Path(config.config_file_path).parent
    files.append(File.generated(config, "contributing.md",
                                abs_src_path=str(root / "CONTRIBUTING.md")))  # fmt: skip
    for name in undeclared_folders(root):
        log.warning(f"{MEASURED / name} is not declared in {REGISTRY}")
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Expand the page's directives; every problem is a warning.

    Args:
        markdown: The page's Markdown.
        page: The page.
        config: The MkDocs configuration.
        files: The site's files.

    Returns:
        The expanded Markdown.
    """
    ctx = Context(Path(config.config_file_path).parent)
    text = expand(markdown, ctx, page.file.src_uri)
    for problem in ctx.problems:
        log.warning(problem)
    return text
