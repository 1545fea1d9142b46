"""Which tables and figures a study makes, from its configuration.

The workflow's targets (``rules/common.smk``) and the report's list of what is missing
(:mod:`ggnbench.report.summary`) both come from here: a table set or figure set belongs to a
study when the part of the study that makes it is enabled.
"""

from __future__ import annotations

from typing import Any

from ggnbench.report.figure_sets import FIGURE_SETS, SWITCHES, applicable
from ggnbench.report.figure_sets import outputs as figure_files
from ggnbench.report.tables import TABLE_SETS

#: Table set -> the config section whose ``enabled`` switches it (None: always made).
TABLE_SWITCHES = {"study": None, "paper": None, "seed-example": "seed_example",
                  "bench": "bench", "epoch": "epoch_bench", "evidence": None}  # fmt: skip
#: The figure the report shows under the results: the one that says most.
HEADLINE_FIGURE = ("study", "learning_curves")


def _on(config: dict[str, Any], switch: str | None) -> bool:
    return switch is None or bool(config.get(switch, {}).get("enabled", False))


def table_sets(config: dict[str, Any]) -> list[str]:
    """The table sets a study makes.

    Args:
        config: The validated study configuration.

    Returns:
        Names of :data:`ggnbench.report.tables.TABLE_SETS`.
    """
    return [name for name, switch in TABLE_SWITCHES.items() if _on(config, switch)]


def figure_sets(config: dict[str, Any]) -> list[str]:
    """The figure sets a study draws.

    Args:
        config: The validated study configuration.

    Returns:
        Names of :data:`ggnbench.report.figure_sets.FIGURE_SETS`.
    """
    return [name for name in FIGURE_SETS if _on(config, SWITCHES.get(name))]


def files(
    config: dict[str, Any], tables: tuple[str, ...] = (), figures: tuple[str, ...] = ()
) -> list[str]:
    """The files of some table and figure sets, those the study makes.

    A figure set's files are those of its figures that apply to the study
    (:func:`ggnbench.report.figure_sets.applicable`).

    Args:
        config: The validated study configuration (its ``results`` folder).
        tables: Table set names.
        figures: Figure set names.

    Returns:
        Paths, tables first.
    """
    results = config["results"]
    made_tables, made_figures = table_sets(config), figure_sets(config)
    return [
        *(p for name in tables if name in made_tables
          for p in TABLE_SETS[name].outputs(f"{results}/tables")),
        *(p for name in figures if name in made_figures
          for p in figure_files(name, f"{results}/figures", applicable(config, name))),
    ]  # fmt: skip


def expected(config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Every table and figure file a study makes, with its set and name.

    Args:
        config: The validated study configuration (its ``results`` folder).

    Returns:
        Path -> (``table set NAME`` or ``figure set NAME``, the file's stem).
    """
    every = {}
    for name in table_sets(config):
        every.update({p: (f"table set {name}", _stem(p)) for p in files(config, tables=(name,))})
    for name in figure_sets(config):
        every.update({p: (f"figure set {name}", _stem(p)) for p in files(config, figures=(name,))})
    return every


def _stem(path: str) -> str:
    return path.rpartition("/")[2].partition(".")[0]


def headline_figure(config: dict[str, Any]) -> str:
    """The PNG the report shows under the results.

    Args:
        config: The validated study configuration.

    Returns:
        Its path.
    """
    return f"{config['results']}/figures/{HEADLINE_FIGURE[1]}.png"
