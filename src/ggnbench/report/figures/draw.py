"""Drawing a figure set: its tables read from CSV, each figure saved as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ggnbench.errors import GGNBenchError
from ggnbench.report.figure_sets import FIGURE_FORMATS, FIGURE_SETS
from ggnbench.report.figures import bench, paper, seed_example, study
from ggnbench.report.figures.registry import DRAWINGS

#: The modules whose drawing functions register themselves in :data:`DRAWINGS`, one per
#: figure set (imported here, so that the registry is full before :func:`draw` reads it).
MODULES = (study, seed_example, paper, bench)


def save(fig: plt.Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Save a figure as PNG and PDF, each through a temporary file and a rename.

    Args:
        fig: The figure.
        out_dir: Folder.
        name: File stem.

    Returns:
        The written paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in FIGURE_FORMATS:
        path = out_dir / f"{name}.{ext}"
        tmp = out_dir / f".{name}.tmp.{ext}"
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        tmp.replace(path)
        paths.append(path)
    plt.close(fig)
    return paths


def draw(
    figure_set: str, tables: str | Path, out_dir: str | Path, names: list[str] | None = None
) -> list[Path]:
    """Draw some figures of a set from the CSV tables.

    Args:
        figure_set: ``study``, ``seed_example``, ``paper`` or ``bench``.
        tables: Folder of the CSV tables.
        out_dir: Figures folder.
        names: The figures to draw; None: every figure of the set.

    Returns:
        The written paths.

    Raises:
        GGNBenchError: If a name is not a figure of the set.
    """
    figures = FIGURE_SETS[figure_set]
    unknown = sorted(set(names or ()) - set(figures))
    if unknown:
        raise GGNBenchError(
            f"no figure {', '.join(unknown)} in the {figure_set} set ({', '.join(figures)})"
        )
    frames: dict[str, pd.DataFrame] = {}
    paths: list[Path] = []
    for name in figures if names is None else names:
        figure = figures[name]
        inputs = [
            frames.setdefault(t, pd.read_csv(Path(tables) / f"{t}.csv")) for t in figure.tables
        ]
        paths += save(DRAWINGS[name](*inputs), out_dir, name)
    return paths
