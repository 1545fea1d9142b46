"""The clauses of the missing-data message: how to get a dataset each way, per reader.

Each registered source has one hint (its ``hint``): the clause that tells the reader of
the message (:data:`CONTEXTS`) how to get the dataset that way, or None where that way
does not work for that reader. :func:`ggnbench.workload.sources.missing_message` joins the
clauses of a dataset's sources into the message.
"""

from __future__ import annotations

from pathlib import Path

from ggnbench.workload.dataset_spec import DatasetSpec, target, torchvision_class

#: Who reads a missing-data message, which decides the ways it offers: ``download``
#: (``ggnbench download``: a folder named with ``--from``), ``train`` (a training command run
#: by hand, which takes no ``--from``) or ``workflow`` (a workflow job: rerun the workflow).
#: Under ``--no-download`` (the config's ``download: false``) none offers the network.
CONTEXTS = ("download", "train", "workflow")


def _rerun(context: str) -> str:
    return "rerun the workflow" if context == "workflow" else "rerun"


def hint_package(spec: DatasetSpec, root: Path, context: str, allow_download: bool) -> str:
    """The clause for a system package: install it."""
    package = spec.package[0]
    return f"install Debian's package {package} (apt-get install {package}) and {_rerun(context)}"


def hint_folder(spec: DatasetSpec, root: Path, context: str, allow_download: bool) -> str:
    """The clause for a folder: put the files there (or into ``--from DIR``)."""
    rerun = _rerun(context)
    if spec.content is not None:  # MNIST-format: the same files, .gz or not, here or in DIR
        here = f"put {spec.files} into {target(spec, root).resolve()} and {rerun}"
        elsewhere = "or into a folder DIR"
    else:  # CIFAR: read in place only extracted; --from takes the published archive
        cls = torchvision_class(spec)
        here = f"put the extracted folder {cls.base_folder} into {root.resolve()} and {rerun}"
        elsewhere = f"or {cls.filename} into a folder DIR"
    if context == "download":
        return f"{here}, {elsewhere} and rerun with --from DIR"
    return here


def hint_torchvision(
    spec: DatasetSpec, root: Path, context: str, allow_download: bool
) -> str | None:
    """The clause for torchvision's download; None when no download is allowed."""
    if not allow_download:
        return None
    return f"{_rerun(context)} with network access (torchvision downloads it)"


def hint_bundled(spec: DatasetSpec, root: Path, context: str, allow_download: bool) -> str:
    """The clause for bundled data: install the package that ships it."""
    return f"install scikit-learn and {_rerun(context)}"
