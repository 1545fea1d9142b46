"""Where a dataset comes from: the registry of data sources, and placing their files.

A source puts a dataset's files where torchvision reads them under the data root:

- ``package``: a system package's folder (Fashion-MNIST: Debian's
  ``dataset-fashion-mnist`` in ``/usr/share/datasets/fashion-mnist``; the root of such
  folders can be moved with the environment variable ``GGNBENCH_SYSTEM_DATASETS``);
- ``folder``: a folder the user names (``ggnbench download NAME --from DIR``), or the
  files the user put into the dataset's own folder by hand, ``.gz`` or not;
- ``torchvision``: torchvision's download (needs network access);
- ``bundled``: data that ships with a Python package (scikit-learn's digits).

:func:`ensure` tries the dataset's sources in its registry order, checks the content of
what a source provides before it is placed (:mod:`ggnbench.workload.idx`: headers, sizes, labels
per class, SHA-256), writes files atomically and leaves a record of the source and the
checksums beside them, which every run's ``run.json`` carries (:func:`record`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ggnbench.errors import GGNBenchError
from ggnbench.workload import idx
from ggnbench.workload.digits import load_digits_tensors
from ggnbench.workload.idx import IdxContent

#: Environment variable naming the root of system packages' dataset folders.
SYSTEM_DATASETS_ENV = "GGNBENCH_SYSTEM_DATASETS"
SYSTEM_DATASETS = "/usr/share/datasets"
#: The record of a placed dataset's source, beside its files.
RECORD = "ggnbench-source.json"

#: Who reads a missing-data message, which decides the ways it offers: ``download``
#: (``ggnbench download``: a folder named with ``--from``), ``train`` (a training command run
#: by hand, which takes no ``--from``) or ``workflow`` (a workflow job: rerun the workflow).
#: Under ``--no-download`` (the config's ``download: false``) none offers the network.
CONTEXTS = ("download", "train", "workflow")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: how torchvision reads it, what its files hold, where it comes from.

    Attributes:
        name: Registry name.
        torchvision: torchvision dataset class name; None for bundled data.
        sources: Names of :data:`ggnbench.workload.sources.SOURCES`, tried in this order.
        files: The files of MNIST-format data a user can place by hand, for messages
            (CIFAR's archive and extracted folder are named by its torchvision class).
        content: What the decompressed files of MNIST-format data hold; None otherwise.
        package: (system package, its folder below the system datasets root), or None.
    """

    name: str
    torchvision: str | None
    sources: tuple[str, ...]
    files: str = ""
    content: IdxContent | None = None
    package: tuple[str, str] | None = None


class Unavailable(Exception):
    """A source that does not have the dataset here (not an error: the next one is tried)."""


@dataclass(frozen=True)
class Source:
    """One way to get a dataset.

    Attributes:
        name: Registry name.
        label: What the source is, for ``ggnbench download``'s help.
        hint: The clause of the missing-data message that says how to get a dataset this
            way (dataset, data root, context of :data:`CONTEXTS`, whether download is
            allowed) -> text, or None where this way does not work for that reader.
        provide: Places the dataset's files (dataset, data root, options) and returns
            where they came from; raises :class:`Unavailable` when this source lacks them
            and :class:`~ggnbench.errors.GGNBenchError` when what it has is damaged.
    """

    name: str
    label: str
    hint: Callable[[DatasetSpec, Path, str, bool], str | None]
    provide: Callable[[DatasetSpec, Path, dict[str, Any]], str]


def system_folder(spec: DatasetSpec) -> Path:
    """The folder a system package installs a dataset into.

    Args:
        spec: The dataset (with a ``package``).

    Returns:
        The folder below the system datasets root.
    """
    return Path(os.environ.get(SYSTEM_DATASETS_ENV, SYSTEM_DATASETS)) / spec.package[1]


def target(spec: DatasetSpec, root: Path) -> Path:
    """The folder torchvision reads a dataset's files from (and the record's folder).

    Args:
        spec: The dataset.
        root: Data root.

    Returns:
        ``root/<Class>/raw`` for MNIST-format data, ``root/<base folder>`` for CIFAR,
        ``root/<name>`` otherwise.
    """
    if spec.content is not None:
        return root / spec.torchvision / "raw"
    if spec.torchvision is not None:
        return root / _torchvision_class(spec).base_folder
    return root / spec.name


def _torchvision_class(spec: DatasetSpec) -> type:
    from torchvision import datasets

    return getattr(datasets, spec.torchvision)


def _names(spec: DatasetSpec) -> list[str]:
    return [name for prefix in spec.content.examples for name in idx.file_names(prefix)]


def _place_idx(spec: DatasetSpec, root: Path, files: dict[str, bytes], origin: str) -> None:
    """Check four decompressed files and write them atomically where torchvision reads."""
    missing = [n for n in _names(spec) if n not in files]
    if missing:
        raise GGNBenchError(f"{origin} lacks {missing[0]} (or {missing[0]}.gz)")
    found = idx.problems(files, spec.content)
    if found:
        name, reason = found[0]
        raise GGNBenchError(f"{origin}: {name} is damaged ({reason})")
    folder = target(spec, root)
    folder.mkdir(parents=True, exist_ok=True)
    for name in _names(spec):
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(files[name])
        os.replace(tmp, folder / name)


def _from_package(spec: DatasetSpec, root: Path, options: dict[str, Any]) -> str:
    if spec.package is None or spec.content is None:
        raise Unavailable
    folder = system_folder(spec)
    if not folder.is_dir():
        raise Unavailable
    package = spec.package[0]
    try:
        files = idx.read_folder(folder, _names(spec))
        _place_idx(spec, root, files, f"package {package} ({folder})")
    except (ValueError, GGNBenchError) as err:
        raise GGNBenchError(f"{err}; reinstall it: apt-get install --reinstall {package}") from err
    return f"package {package}: {folder}"


def _from_folder(spec: DatasetSpec, root: Path, options: dict[str, Any]) -> str:
    folder = options.get("folder")
    if folder is None:
        raise Unavailable
    folder = Path(folder)
    if not folder.is_dir():
        raise GGNBenchError(f"--from {folder}: no such folder")
    if spec.content is not None:
        try:
            files = idx.read_folder(folder, _names(spec))
        except ValueError as err:
            raise GGNBenchError(str(err)) from err
        _place_idx(spec, root, files, f"folder {folder}")
        return f"folder {folder.resolve()}"
    cls = _torchvision_class(spec)
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


def _from_torchvision(spec: DatasetSpec, root: Path, options: dict[str, Any]) -> str:
    if not options.get("allow_download", True) or spec.torchvision is None:
        raise Unavailable
    cls = _torchvision_class(spec)
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except (RuntimeError, OSError, ValueError, EOFError) as err:
        raise Unavailable from err
    if spec.content is not None:
        files = idx.read_folder(target(spec, root), _names(spec))
        _place_idx(spec, root, files, "torchvision's download")
    mirror = getattr(cls, "mirrors", [getattr(cls, "url", "")])[0]
    return f"torchvision download: {mirror}"


def _bundled(spec: DatasetSpec, root: Path, options: dict[str, Any]) -> str:
    load_digits_tensors(root)
    return "scikit-learn (sklearn.datasets.load_digits)"


def _rerun(context: str) -> str:
    return "rerun the workflow" if context == "workflow" else "rerun"


def _hint_package(spec: DatasetSpec, root: Path, context: str, allow_download: bool) -> str:
    package = spec.package[0]
    return f"install Debian's package {package} (apt-get install {package}) and {_rerun(context)}"


def _hint_folder(spec: DatasetSpec, root: Path, context: str, allow_download: bool) -> str:
    rerun = _rerun(context)
    if spec.content is not None:  # MNIST-format: the same files, .gz or not, here or in DIR
        here = f"put {spec.files} into {target(spec, root).resolve()} and {rerun}"
        elsewhere = "or into a folder DIR"
    else:  # CIFAR: read in place only extracted; --from takes the published archive
        cls = _torchvision_class(spec)
        here = f"put the extracted folder {cls.base_folder} into {root.resolve()} and {rerun}"
        elsewhere = f"or {cls.filename} into a folder DIR"
    if context == "download":
        return f"{here}, {elsewhere} and rerun with --from DIR"
    return here


def _hint_torchvision(
    spec: DatasetSpec, root: Path, context: str, allow_download: bool
) -> str | None:
    if not allow_download:
        return None
    return f"{_rerun(context)} with network access (torchvision downloads it)"


def _hint_bundled(spec: DatasetSpec, root: Path, context: str, allow_download: bool) -> str:
    return f"install scikit-learn and {_rerun(context)}"


SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source("package", "a system package", _hint_package, _from_package),
        Source("folder", "a folder (--from)", _hint_folder, _from_folder),
        Source("torchvision", "torchvision's download", _hint_torchvision, _from_torchvision),
        Source(
            "bundled", "data that ships with a Python package (scikit-learn)", _hint_bundled,
            _bundled,
        ),
    ]
}  # fmt: skip


def missing_message(
    spec: DatasetSpec,
    root: Path,
    context: str = "download",
    allow_download: bool = True,
) -> str:
    """The one-line message for a dataset that no source could provide.

    Args:
        spec: The dataset.
        root: Data root.
        context: Who reads it (:data:`CONTEXTS`): the ways it names are the ones that
            work for that command.
        allow_download: Whether the run may download (no network is offered if not).

    Returns:
        A message naming every way to get it that works for its reader.

    Raises:
        ValueError: If the context is not one of :data:`CONTEXTS`.
    """
    if context not in CONTEXTS:
        raise ValueError(f"unknown context {context!r}; use one of {list(CONTEXTS)}")
    hints = (SOURCES[name].hint(spec, root, context, allow_download) for name in spec.sources)
    ways = "; or ".join(hint for hint in hints if hint is not None)
    return f"dataset {spec.name!r} is missing under {root}: {ways}"


class MissingData(GGNBenchError):
    """A dataset that no source could provide, or damaged files none could replace.

    The message names the ways to get the data that work for its reader; the command line
    renders it again for the command that failed (:meth:`message`).

    Attributes:
        spec: The dataset.
        root: Data root.
        allow_download: Whether the run might download.
        damaged: The first damaged file and why, or None when the data is missing.
    """

    def __init__(
        self,
        spec: DatasetSpec,
        root: Path,
        allow_download: bool,
        context: str,
        damaged: tuple[Path, str] | None = None,
    ) -> None:
        self.spec, self.root, self.allow_download, self.damaged = (
            spec, Path(root), allow_download, damaged,
        )  # fmt: skip
        super().__init__(self.message(context))

    def message(self, context: str) -> str:
        """The one-line message for one reader.

        Args:
            context: Who reads it (:data:`CONTEXTS`).

        Returns:
            What is missing or damaged, and the ways that work for that reader.
        """
        text = missing_message(self.spec, self.root, context, self.allow_download)
        if self.damaged is None:
            return text
        path, reason = self.damaged
        return (
            f"dataset {self.spec.name!r} is damaged: {path} ({reason}); delete it and "
            f"{text.split(': ', 1)[1]}"
        )


def placed_problems(spec: DatasetSpec, root: Path, strict: bool) -> list[tuple[Path, str]]:
    """What is wrong with the files already in place; empty when they are usable.

    Args:
        spec: The dataset.
        root: Data root.
        strict: Check the content (sizes, classes, SHA-256), not only that the files read.

    Returns:
        ``(path, reason)`` pairs; a missing file is reported as ``(path, "missing")``.
    """
    folder = target(spec, root)
    if spec.content is None:
        if spec.torchvision is None:
            return []
        cls = _torchvision_class(spec)
        from torchvision.datasets import cifar  # its check_integrity: what torchvision uses

        out = []
        for name, md5 in cls.train_list + cls.test_list:
            path = folder / name
            if not path.is_file():
                out.append((path, "missing"))
            elif not cifar.check_integrity(str(path), md5):
                out.append((path, "its MD5 checksum differs from the published one"))
        return out
    try:
        files = idx.read_folder(folder, _names(spec))
    except ValueError as err:
        return [(folder, str(err))]
    out = [(folder / n, "missing") for n in _names(spec) if n not in files]
    if out:
        return out
    content = spec.content if strict else _structure_only(spec)
    return [(folder / name, reason) for name, reason in idx.problems(files, content)]


def _structure_only(spec: DatasetSpec) -> idx.IdxContent:
    """The content check without sizes, class counts and checksums (for test-made data)."""
    return idx.IdxContent(
        examples={p: -1 for p in spec.content.examples},
        image_shape=spec.content.image_shape,
        classes=spec.content.classes,
    )


def ensure(
    spec: DatasetSpec,
    root: str | Path,
    allow_download: bool = True,
    folder: str | Path | None = None,
    strict: bool = True,
    context: str = "train",
) -> dict[str, Any]:
    """Make sure a dataset's files are in place, getting them from its sources if not.

    Files already in place are kept when they pass the check; otherwise the dataset's
    sources are tried in order, and the first that has the dataset places it.

    Args:
        spec: The dataset.
        root: Data root.
        allow_download: Whether the torchvision source may download.
        folder: A folder the user names as the source (``--from``).
        strict: Check the content of files already in place (sizes, classes, SHA-256).
        context: Who reads a missing-data message (:data:`CONTEXTS`).

    Returns:
        The record of the data's source (see :func:`record`).

    Raises:
        MissingData: If no source has the data, or what is there is damaged and no
            source can replace it (the message says which file and why).
        GGNBenchError: If the folder named as the source, or what a source has, is
            missing files or damaged.
    """
    root = Path(root)
    if spec.torchvision is None:  # bundled with a Python package: nothing to place
        origin = SOURCES["bundled"].provide(spec, root, {})
        return record(spec, root, origin=origin, source="bundled")
    found = [] if folder is not None else placed_problems(spec, root, strict)
    if folder is None and not found:
        if _compressed_only(spec, root):  # .gz files put there by hand: decompress them
            here = target(spec, root)
            _place_idx(spec, root, idx.read_folder(here, _names(spec)), f"folder {here}")
            return record(spec, root, f"folder {here.resolve()} (placed by hand)", "folder", True)
        return record(spec, root, origin=_origin_of_placed(spec, root))
    damaged = [(path, reason) for path, reason in found if reason != "missing"]
    options = {"allow_download": allow_download, "folder": folder}
    for name in ["folder"] if folder is not None else spec.sources:
        try:
            origin = SOURCES[name].provide(spec, root, options)
        except Unavailable:
            continue
        return record(spec, root, origin=origin, source=name, write=True)
    raise MissingData(spec, root, allow_download, context, damaged[0] if damaged else None)


def _compressed_only(spec: DatasetSpec, root: Path) -> bool:
    """Whether some of an MNIST-format dataset's files are in place only as ``.gz``."""
    if spec.content is None:
        return False
    folder = target(spec, root)
    return any(not (folder / n).is_file() for n in _names(spec))


def _origin_of_placed(spec: DatasetSpec, root: Path) -> str | None:
    """Where files in place came from: their record, else the user's own folder."""
    path = target(spec, root) / RECORD
    if path.is_file():
        return None
    if spec.content is not None:
        return f"folder {target(spec, root).resolve()} (placed by hand)"
    return None


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
    saved = _read_record(folder)
    sums = _checksums(spec, folder)
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


def _read_record(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None


def _checksums(spec: DatasetSpec, folder: Path) -> dict[str, str]:
    if spec.content is not None:
        names = _names(spec)
    elif spec.torchvision is not None:
        cls = _torchvision_class(spec)
        names = [name for name, _ in cls.train_list + cls.test_list]
    else:
        names = sorted(p.name for p in folder.glob("*.pt")) if folder.is_dir() else []
    return {n: idx.sha256((folder / n).read_bytes()) for n in names if (folder / n).is_file()}
