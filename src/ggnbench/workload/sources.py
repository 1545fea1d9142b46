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
checksums beside them, which every run's ``run.json`` carries
(:func:`ggnbench.workload.source_record.record`). How each source places the files is in
:mod:`ggnbench.workload.providers`, its clause of the missing-data message
(:func:`missing_message`) in :mod:`ggnbench.workload.missing_hints`, and a dataset's
description in :mod:`ggnbench.workload.dataset_spec`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ggnbench.errors import GGNBenchError
from ggnbench.workload import idx
from ggnbench.workload.dataset_spec import DatasetSpec, idx_file_names, target, torchvision_class
from ggnbench.workload.missing_hints import (
    CONTEXTS,
    hint_bundled,
    hint_folder,
    hint_package,
    hint_torchvision,
)
from ggnbench.workload.providers import (
    Unavailable,
    from_bundled,
    from_folder,
    from_package,
    from_torchvision,
    place_idx,
)
from ggnbench.workload.source_record import RECORD, record


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


SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source("package", "a system package", hint_package, from_package),
        Source("folder", "a folder (--from)", hint_folder, from_folder),
        Source("torchvision", "torchvision's download", hint_torchvision, from_torchvision),
        Source(
            "bundled", "data that ships with a Python package (scikit-learn)", hint_bundled,
            from_bundled,
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
        cls = torchvision_class(spec)
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
        files = idx.read_folder(folder, idx_file_names(spec))
    except ValueError as err:
        return [(folder, str(err))]
    out = [(folder / n, "missing") for n in idx_file_names(spec) if n not in files]
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
            place_idx(spec, root, idx.read_folder(here, idx_file_names(spec)), f"folder {here}")
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
    return any(not (folder / n).is_file() for n in idx_file_names(spec))


def _origin_of_placed(spec: DatasetSpec, root: Path) -> str | None:
    """Where files in place came from: their record, else the user's own folder."""
    path = target(spec, root) / RECORD
    if path.is_file():
        return None
    if spec.content is not None:
        return f"folder {target(spec, root).resolve()} (placed by hand)"
    return None
