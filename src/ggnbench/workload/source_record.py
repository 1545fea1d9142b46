"""The record of where a placed dataset's files came from, with their checksums.

The record is written beside the files (:data:`RECORD`) when a source places them, and
every run's ``run.json`` carries it (:func:`record`), with the SHA-256 of the files in
place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ggnbench.workload import idx
from ggnbench.workload.dataset_spec import DatasetSpec, idx_file_names, target, torchvision_class

#: The record of a placed dataset's source, beside its files.
RECORD = "ggnbench-source.json"


def record(
    spec: DatasetSpec,
    root: str | Path,
    origin: str | None = None,
    source: str | None = None,
    write: bool = False,
) -> dict[str, Any]:
    """The record of where a dataset's files came from, with their checksums.

    Args:
        spec: The dataset.
        root: Data root.
        origin: Where the files came from; None keeps the saved record's.
        source: The source's registry name.
        write: Save the record beside the files (atomically).

    Returns:
        ``dataset, source, origin, sha256`` (per file, of the files in place now) and
        ``matches_record`` (whether they are the files the saved record names).

    Raises:
        OSError: If ``write`` is set and the record cannot be written.
    """
    folder = target(spec, Path(root))
    saved = read_record(folder)
    sums = checksums(spec, folder)
    if origin is None and saved:
        out = {**saved, "matches_record": saved.get("sha256") == sums}
        out["sha256"] = sums
        return out
    out = {
        "dataset": spec.name,
        "source": source or ("folder" if origin else "unrecorded"),
        "origin": origin,
        "sha256": sums,
        "matches_record": True,
    }
    if write or (origin and not saved):
        stored = {k: v for k, v in out.items() if k != "matches_record"}
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{RECORD}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, folder / RECORD)
        except OSError:
            if write:
                raise
    return out


def read_record(folder: Path) -> dict[str, Any] | None:
    """The record saved in a folder; None when absent or unreadable."""
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None


def checksums(spec: DatasetSpec, folder: Path) -> dict[str, str]:
    """The SHA-256 of each of a dataset's files in a folder."""
    if spec.content is not None:
        names = idx_file_names(spec)
    elif spec.torchvision is not None:
        cls = torchvision_class(spec)
        names = [name for name, _ in cls.train_list + cls.test_list]
    else:
        names = sorted(p.name for p in folder.glob("*.pt")) if folder.is_dir() else []
    return {n: idx.sha256((folder / n).read_bytes()) for n in names if (folder / n).is_file()}
