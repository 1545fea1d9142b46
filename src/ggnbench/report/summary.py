"""The study's results first: the report's opening page and the terminal's last lines.

Per problem and device, the results table (:mod:`ggnbench.report.results_table`) and which
optimizers did best; the one figure that says most; what is missing and why; then what
ran and on which data (the data records in the runs' ``run.json``) and ours against the
paper (``paper_comparison``, ``paper_epochs_summary``). Writes reStructuredText (the
workflow-wide description of ``snakemake --report``) and a few plain lines for the
terminal.
"""

from __future__ import annotations

import base64
import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd

from ggnbench.report import artifacts
from ggnbench.report.figure_sets import left_out
from ggnbench.report.results_table import best_line, read_table, results
from ggnbench.run.results import atomic_write_text
from ggnbench.workload.data import DATASETS

#: Characters per line of the embedded figure's base64 (docutils limits line length;
#: browsers drop the line breaks inside a data URL).
BASE64_LINE = 76


def _accuracy(row: Any) -> str:
    if pd.isna(row.accuracy):
        return "no finite result"
    return f"{row.accuracy:.4f} [{row.q1:.4f}, {row.q3:.4f}]"


def _ratio(row: Any) -> str:
    value = getattr(row, "step_ratio", math.nan)
    return "" if pd.isna(value) else f"{value:.2f}x ({row.step_ms:.3g} ms)"


def _to_target(row: Any) -> str:
    if pd.isna(getattr(row, "target", math.nan)):
        return ""
    reached = f"{int(row.reached)}/{int(row.runs)} seeds"
    if not row.reached:
        return f"not reached ({reached})"
    return f"{row.steps_to_target:g} steps, {row.seconds_to_target:.3g} s ({reached})"


def _problem_heading(problem: str, device: str, group: pd.DataFrame, config: dict) -> str:
    spec = config.get("problems", {}).get(problem, {})
    length = (f"{spec['epochs']} epochs" if "epochs" in spec
              else f"{spec['steps']} steps" if "steps" in spec else "")  # fmt: skip
    seeds = int(group.seeds.max())
    return f"{problem} on {device}: {length}, {seeds} final seeds"


#: An empty cell: a dash (a lone hyphen would read as a bullet list).
EMPTY = "\u2013"  # an en dash


def _list_table(rows: list[list[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        lines.append(f"   * - {row[0] or EMPTY}")
        lines += [f"     - {cell or EMPTY}" for cell in row[1:]]
    return [*lines, ""]


#: The results table's columns (the fifth names the problem's target where it has one).
HEADER = ["optimizer", "final test accuracy, median [IQR]", "chosen setting",
          "time per step vs SGD", "to a target valid accuracy", "vs the paper"]  # fmt: skip


def _cells(row: Any) -> list[str]:
    return [row.label, _accuracy(row), row.setting, _ratio(row), _to_target(row), row.paper]


def _figure(path: Path | None) -> list[str]:
    """A PNG embedded in the page as a data URL (the report is one self-contained file)."""
    if path is None or not Path(path).exists():
        return []
    data = base64.b64encode(Path(path).read_bytes()).decode()
    body = "\n".join(f"      {chunk}" for chunk in textwrap.wrap(data, BASE64_LINE))
    return [".. raw:: html", "", f'   <img alt="{Path(path).stem}" style="max-width:100%"',
            '      src="data:image/png;base64,', f'{body}">', ""]  # fmt: skip


def missing(expected: dict[str, tuple[str, str]], logs: str) -> list[str]:
    """One line per set of tables or figures with missing files, naming them.

    Args:
        expected: File path -> (its set, its name), as :func:`ggnbench.report.artifacts.expected`.
        logs: The study's logs folder.

    Returns:
        Lines ``- table set bench: bench_overhead, bench_memory are missing ...``.
    """
    absent: dict[str, list[str]] = {}
    for path, (group, name) in expected.items():
        if not Path(path).exists() and name not in absent.setdefault(group, []):
            absent[group].append(name)
    return [
        f"- {group}: {', '.join(names)} missing (a job failed or has not run; logs in ``{logs}/``)"
        for group, names in absent.items()
        if names
    ]


def data_lines(runs: pd.DataFrame) -> list[str]:
    """One line per dataset and source that the runs trained on.

    Args:
        runs: The ``runs`` table (its ``run`` column names each run folder).

    Returns:
        Lines naming the dataset, its source and origin, the number of runs, and whether
        the files are the originals (SHA-256 as ggnbench ships them) where it ships them.
    """
    seen: dict[tuple[str, str, str, str], int] = {}
    for folder in runs.get("run", pd.Series(dtype=str)):
        try:
            info = json.loads((Path(folder) / "run.json").read_text())
        except (OSError, ValueError):
            continue
        record = info.get("resolved", {}).get("data")
        if not record:
            continue
        name = record.get("dataset", "?")
        spec = DATASETS.get(name)
        shipped = spec.content.sha256 if spec is not None and spec.content is not None else {}
        if shipped:
            originals = "the original files" if record.get("sha256") == shipped else "NOT the"
            check = f"{originals} (SHA-256 as ggnbench ships them)"
        else:
            check = "SHA-256 recorded in run.json"
        key = (name, record.get("source", "?"), str(record.get("origin")), check)
        seen[key] = seen.get(key, 0) + 1
    return [
        f"- **{name}** from source *{source}* ({origin}): {check}; {n} runs"
        for (name, source, origin, check), n in sorted(seen.items())
    ]


def _table(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """A reStructuredText list table of some columns."""
    return _list_table([columns, *frame[columns].astype(str).values.tolist()])


def render(tables: str | Path, config: dict[str, Any]) -> str:
    """The report's opening page.

    Under the results, the study's headline figure (:mod:`ggnbench.report.artifacts`); then
    every table and figure the study makes but that does not exist, and the figures left
    out because their data cannot make a point (:func:`ggnbench.report.figure_sets.left_out`).

    Args:
        tables: The tables folder.
        config: The resolved study configuration.

    Returns:
        reStructuredText.
    """
    folder = Path(tables)
    runs = read_table(folder, "runs")
    table = results(folder)
    lines = ["ggnbench: results", "=" * 17, ""]
    if table.empty:
        lines += ["No final run has been aggregated yet: run the workflow "
                  "(``snakemake --cores N``), then ``make report``.", ""]  # fmt: skip
    groups = [] if table.empty else table.groupby(["problem", "device"], sort=False)
    for (problem, device), group in groups:
        heading = _problem_heading(problem, device, group, config)
        lines += [heading, "-" * len(heading), "", f"**{best_line(group)}**", ""]
        header = list(HEADER)
        if "target" in group and group.target.notna().any():
            header[4] = f"to {group.target.dropna().iloc[0]:g} valid accuracy"
        rows = [header, *(_cells(r) for r in group.itertuples())]
        if not any(group.paper):  # not a problem of the paper's: no column of dashes
            rows = [row[:-1] for row in rows]
        lines += _list_table(rows)
    lines += _figure(Path(artifacts.headline_figure(config)))
    gaps = missing(artifacts.expected(config), f"{config['results']}/logs")
    gaps += [f"- figure {name} is left out: {why}" for name, why in left_out(config).items()]
    if gaps:
        lines += ["Not in this report", "-" * 18, "", *gaps, ""]
    lines += _what_ran(runs, config)
    lines += _paper_tables(folder, config)
    return "\n".join(lines)


def _what_ran(runs: pd.DataFrame, config: dict[str, Any]) -> list[str]:
    if runs.empty:
        return []
    final = runs[runs.stage == "final"]
    problems = ", ".join(
        f"{name} ({v.get('epochs', v.get('steps'))} {'epochs' if 'epochs' in v else 'steps'})"
        for name, v in config["problems"].items()
    )
    return [
        "What ran",
        "-" * 8,
        "",
        f"{len(runs)} runs ({len(final)} final-seed runs) of {problems}; optimizers "
        f"{', '.join(sorted(set(runs.optimizer)))}; final seeds "
        f"{', '.join(map(str, config['final_seeds']))}; devices "
        f"{', '.join(sorted(set(runs.device)))}; holdout {config.get('holdout')}, "
        f"evaluation {config.get('evaluation')}; results in ``{config['results']}``.",
        "",
        "**Data**:",
        "",
        *(data_lines(runs) or ["- no run records its data"]),
        "",
    ]


def _paper_tables(folder: Path, config: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    verdicts = read_table(folder, "paper_epochs_summary")
    if not verdicts.empty:
        lines += [
            "**Verdict per optimizer**, epoch by epoch against the paper's quartile bands "
            "widened by "
            + ", ".join(f"{k} {v}" for k, v in config.get("paper_band_tolerance", {}).items())
            + " (tables paper_epochs and paper_epochs_summary, figure paper_epochs; the "
            "causes of every difference are in the documentation, 'Reproducing the paper'):",
            "",
            *_table(
                verdicts.fillna(""),
                ["problem", "optimizer", "device", "epochs", "seeds", "inside", "outside",
                 "verdict", "outside_metrics"],
            ),
        ]  # fmt: skip
    comparison = read_table(folder, "paper_comparison")
    if not comparison.empty:
        shown = comparison.assign(
            ours=comparison.ours_median.round(4), paper=comparison.paper_median.round(4)
        )
        columns = ["problem", "optimizer", "device", "seeds", "ours", "paper", "verdict"]
        if "ours_epochs" in shown:
            pairs = zip(shown.ours_epochs, shown.paper_epochs, strict=True)
            shown = shown.assign(epochs=[f"{o:g} / {p:g}" for o, p in pairs])
            columns.insert(4, "epochs")
        lines += [
            "**Final test accuracy** at our last epoch against the paper's at its last epoch "
            "(table paper_comparison; epochs: ours / the paper's; shorter: our runs stop "
            "before the paper's end, so only the per-epoch comparison above applies):",
            "",
            *_table(shown, columns),
        ]
    if verdicts.empty and comparison.empty and not read_table(folder, "runs").empty:
        lines += ["No problem of this study is one of the paper's; nothing to compare.", ""]
    return lines


def render_text(tables: str | Path, report: str | Path | None = None) -> str:
    """A few lines for the terminal: per problem, each optimizer's result; the report.

    Args:
        tables: The tables folder.
        report: The HTML report's path, named on the last line.

    Returns:
        Plain text.
    """
    table = results(tables)
    lines = []
    groups = [] if table.empty else table.groupby(["problem", "device"], sort=False)
    for (problem, device), group in groups:
        lines.append(f"{problem} on {device} ({best_line(group)}):")
        width = max(len(label) for label in group.label)
        for row in group.itertuples():
            ratio = _ratio(row)
            lines.append(
                f"  {row.label:<{width}}  test acc. {_accuracy(row):<24}  "
                f"{row.setting}" + (f"; step {ratio} of SGD's" if ratio else "")
            )
    if not lines:
        lines.append("no final run has been aggregated yet")
    if report is not None:
        lines.append(f"report: {report}")
    return "\n".join(lines)


def write(tables: str | Path, config: dict[str, Any], out: str | Path) -> Path:
    """Write the opening page atomically, and its plain-text lines beside it (``.txt``).

    Args:
        tables: The tables folder.
        config: The resolved study configuration.
        out: The ``.rst`` file.

    Returns:
        The written ``.rst`` path.
    """
    out = Path(out)
    atomic_write_text(out, render(tables, config) + "\n")
    atomic_write_text(out.with_suffix(".txt"), render_text(tables) + "\n")
    return out
