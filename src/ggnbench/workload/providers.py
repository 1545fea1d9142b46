"""How each source places a dataset's files: the ``provide`` of every registered source.

Each provider checks what it has (:mod:`ggnbench.workload.idx` for MNIST-format data,
the published MD5 sums for CIFAR), writes the files atomically where torchvision reads
them and returns where they came from; it raises :class:`Unavailable` when it does not
have the dataset here, and :class:`~ggnbench.errors.GGNBenchError` when what it has is
damaged.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ggnbench.errors import GGNBenchError
from ggnbench.workload import idx
from ggnbench.workload.dataset_spec import DatasetSpec, idx_file_names, target, torchvision_class
from ggnbench.workload.digits import load_digits_tensors

#: Environment variable naming the root of system packages' dataset folders.
SYSTEM_DATASETS_ENV = "GGNBENCH_SYSTEM_DATASETS"
SYSTEM_DATASETS = "/usr/share/datasets"


class Unavailable(Exception):
    """A source that does not have the dataset here (not an error: the next one is tried)."""


def system_folder(spec: DatasetSpec) -> Path:
    """The folder a system package installs a dataset into.

    Args:
        spec: The dataset (with a ``package``).

    Returns:
        The folder below the system datasets root.
    """
    return Path(os.environ.get(SYSTEM_DATASETS_ENV, SYSTEM_DATASETS)) / spec.package[1]


def place_idx(spec: DatasetSpec, root: Path, files: dict[str, bytes], origin: str) -> None:
    """Check four decompressed files and write them atomically where torchvision reads."""
    missing = [n for n in idx_file_names(spec) if n not in files]
    if missing:
        raise GGNBenchError(f"{origin} lacks {missing[0]} (or {missing[0]}.gz)")
    found = idx.problems(files, spec.content)
    if found:
        name, reason = found[0]
        raise GGNBenchError(f"{origin}: {name} is damaged ({reason})")
    folder = target(spec, root)
    folder.mkdir(parents=True, exist_ok=True)
    for name in idx_file_names(spec):
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(files[name])
        os.replace(tmp, folder / name)


def from_package(spec: DatasetSpec, root: Path, options: dict[str, Any]) -> str:
    """Place a dataset from its system package's folder."""
    if spec.package is None or spec.content is None:
        raise Unavailable
    folder = system_folder(spec)
    if not folder.is_dir():
        raise Unavailable
    package = spec.package[0]
    try:
        files = idx.read_folder(folder, idx_file_names(spec))
        place_idx(spec, root, files, f"package {package} ({folder})")
    except (ValueError, GGNBenchError) as err:
        raise GGNBenchError(f"{err}; reinstall it: apt-get install --reinstall {package}") from err
    return f"package {package}: {folder}"


def from_folder(spec: DatasetSpec, root: Path, options: dict[str, Any]) -> str:
    """Place a dataset from the folder the user names (``--from``)."""
    folder = options.get("folder")
    if folder is None:
        raise Unavailable
    folder = Path(folder)
    if not folder.is_dir():
        raise GGNBenchError(f"--from {folder}: no such folder")
    if spec.content is not None:
        try:
            files = idx.read_folder(folder, idx_file_names(spec))
        except ValueError as err:
            raise GGNBenchError(str(err)) from err
        place_idx(spec, root, files, f"folder {folder}")
        return f"folder {folder.resolve()}"
    cls = torchvision_class(spec)
    archive = folder / cls.filename
    if not archive.is_file():
        raise GGNBenchError(f"folder {folder} lacks {cls.filename}")
    from torchvision.datasets.utils import check_integrity, extract_archive

    if not check_integrity(str(archive), cls.tgz_md5):
        raise GGNBenchError(f"{archive} is damaged (its MD5 differs from the published one)")
    tmp = root / f".{spec.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    extract_archive(str(archive), str(tmp))
    shutil.rmtree(target(spec, root), ignore_errors=True)
    os.replace(tmp / cls.base_folder, target(spec, root))
    shutil.rmtree(tmp, ignore_errors=True)
    return f"folder {folder.resolve()}"


def from_torchvision(spec: DatasetSpec, root: Path, options: dict[str, Any]) -> str:
    """Place a dataset from torchvision's download."""
    if not options.get("allow_download", True) or spec.torchvision is None:
        raise Unavailable
    cls = torchvision_class(spec)
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except (RuntimeError, OSError, ValueError, EOFError) as err:
        raise Unavailable from err
    if spec.content is not None:
        files = idx.read_folder(target(spec, root), idx_file_names(spec))
        place_idx(spec, root, files, "torchvision's download")
    mirror = getattr(cls, "mirrors", [getattr(cls, "url", "")])[0]
    return f"torchvision download: {mirror}"


def from_bundled(spec: DatasetSpec, root: Path, options: dict[str, Any]) -> str:
    """Place data that ships with a Python package (scikit-learn's digits)."""
    load_digits_tensors(root)
    return "scikit-learn (sklearn.datasets.load_digits)"
