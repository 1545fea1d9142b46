"""Write a DataFrame as the three table formats: CSV (data), Markdown and LaTeX (reading)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ggnbench.results import atomic_write_text

FORMATS = ("csv", "md", "tex")


def write_table(frame: pd.DataFrame, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``name.csv``, ``name.md`` and ``name.tex`` atomically.

    Args:
        frame: The table.
        out_dir: Folder.
        name: File stem.

    Returns:
        The written paths.
    """
    out_dir = Path(out_dir)
    shown = frame.copy()
    for column in shown.select_dtypes("float").columns:
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    texts = {
        "csv": frame.to_csv(index=False),
        "md": shown.to_markdown(index=False) + "\n",
        "tex": shown.to_latex(index=False, escape=True),
    }
    paths = []
    for ext in FORMATS:
        path = out_dir / f"{name}.{ext}"
        atomic_write_text(path, texts[ext])
        paths.append(path)
    return paths
