"""The report's first screen: what ran, on which data, and the verdict per optimizer.

Reads the study's tables (``runs``, ``paper_epochs_summary``, ``paper_comparison``) and
the data records in the runs' ``run.json``; writes reStructuredText that the Snakefile
makes the workflow-wide description of ``snakemake --report``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ggnbench.data import DATASETS
from ggnbench.results import atomic_write_text


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
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [columns, *frame[columns].astype(str).values.tolist()]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell or '-'}" for cell in row[1:]]
    return [*lines, ""]


def render(tables: Path, config: dict[str, Any]) -> str:
    """The summary text.

    Args:
        tables: The tables folder.
        config: The resolved study configuration.

    Returns:
        reStructuredText.
    """
    folder = Path(tables)
    runs = pd.read_csv(folder / "runs.csv")
    final = runs[runs.stage == "final"]
    problems = ", ".join(
        f"{name} ({v.get('epochs', v.get('steps'))} {'epochs' if 'epochs' in v else 'steps'})"
        for name, v in config["problems"].items()
    )
    lines = [
        "ggnbench: what ran and how it compares with the paper",
        "=" * 54,
        "",
        f"**What ran**: {len(runs)} runs ({len(final)} final-seed runs) of {problems}; "
        f"optimizers {', '.join(sorted(set(runs.optimizer)))}; final seeds "
        f"{', '.join(map(str, config['final_seeds']))}; devices "
        f"{', '.join(sorted(set(runs.device)))}; holdout {config.get('holdout')}, "
        f"evaluation {config.get('evaluation')}; results in ``{config['results']}``.",
        "",
        "**Data**:",
        "",
        *(data_lines(runs) or ["- no run records its data"]),
        "",
    ]
    summary_path = folder / "paper_epochs_summary.csv"
    verdicts = pd.read_csv(summary_path) if summary_path.exists() else pd.DataFrame()
    if not verdicts.empty:
        lines += [
            "**Verdict per optimizer**, epoch by epoch against the paper's quartile bands "
            "widened by "
            + ", ".join(f"{k} {v}" for k, v in config.get("paper_band_tolerance", {}).items())
            + " (tables paper_epochs and paper_epochs_summary, figure paper_epochs; the causes "
            'of every difference are in README.md, "What has run on real data"):',
            "",
            *_table(
                verdicts.fillna(""),
                ["problem", "optimizer", "device", "epochs", "seeds", "inside", "outside",
                 "verdict", "outside_metrics"],
            ),
        ]  # fmt: skip
    comparison_path = folder / "paper_comparison.csv"
    comparison = pd.read_csv(comparison_path) if comparison_path.exists() else pd.DataFrame()
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
    if verdicts.empty and comparison.empty:
        lines += ["No run of this study has a counterpart among the paper's curves.", ""]
    return "\n".join(lines)


def write(tables: Path, config: dict[str, Any], out: Path) -> Path:
    """Write the summary atomically.

    Args:
        tables: The tables folder.
        config: The resolved study configuration.
        out: The ``.rst`` file.

    Returns:
        The written path.
    """
    atomic_write_text(Path(out), render(tables, config) + "\n")
    return Path(out)
