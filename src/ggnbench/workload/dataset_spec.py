"""A dataset's description (:class:`DatasetSpec`) and where its files lie under the data root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ggnbench.workload import idx
from ggnbench.workload.idx import IdxContent


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
        return root / torchvision_class(spec).base_folder
    return root / spec.name


def torchvision_class(spec: DatasetSpec) -> type:
    """The torchvision dataset class that reads a dataset."""
    from torchvision import datasets

    return getattr(datasets, spec.torchvision)


def idx_file_names(spec: DatasetSpec) -> list[str]:
    """The decompressed file names of MNIST-format data."""
    return [name for prefix in spec.content.examples for name in idx.file_names(prefix)]
