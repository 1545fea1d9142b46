"""The data commands: ``ggnbench download`` (a dataset into the data root) and ``synth-mnist``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ggnbench.commands.common import names
from ggnbench.workload.data import DATASETS
from ggnbench.workload.sources import SOURCES


def add_download(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench download``."""
    packages = "; ".join(
        f"{d.name}: Debian's {d.package[0]}" for d in DATASETS.values() if d.package
    )
    sources = [
        f"{s.label} ({packages})" if s.name == "package" else s.label for s in SOURCES.values()
    ]
    p = sub.add_parser(
        "download",
        help="put a dataset into the data root from its sources, its content checked",
        description=f"Put both splits of a dataset ({names(DATASETS)}) where torchvision "
        "reads them under the data root, from the first of its sources that has it: files "
        f"already there, {', '.join(sources)}. The content is checked first (IDX headers, "
        "sizes, labels per class, SHA-256 where ggnbench ships it); the source and checksums "
        "are recorded beside the files and in every run's run.json.",
    )
    p.add_argument("dataset", choices=list(DATASETS), help="dataset name")
    p.add_argument("--data-root", type=Path, default=Path("data"), help="dataset folder (data)")
    p.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="DIR",
        help="take the files from this folder (.gz or decompressed; CIFAR: the .tar.gz)",
    )
    p.add_argument("--no-download", action="store_true", help="never use the network")
    p.add_argument(
        "--done", type=Path, help="file to write (the source record, as JSON) once it is ready"
    )
    p.set_defaults(func=cmd_download)


def cmd_download(args: argparse.Namespace) -> None:
    """Run ``ggnbench download``."""
    from ggnbench.workload import data

    record = data.download(
        args.dataset, args.data_root, allow_download=not args.no_download, folder=args.source
    )
    if args.done is not None:
        args.done.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.done.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, args.done)
    origin = record.get("origin") or "already in place"
    print(f"{args.dataset}: ready in {args.data_root} (source: {record['source']}, {origin})")


def add_synth_mnist(sub: argparse._SubParsersAction) -> None:
    """Add ``ggnbench synth-mnist``."""
    p = sub.add_parser(
        "synth-mnist",
        help="write synthetic MNIST-format files (offline smoke tests and timings)",
        description="Write learnable synthetic images in MNIST's IDX format under "
        "DATA_ROOT/FOLDER/raw, read by torchvision's MNIST classes like the real data.",
    )
    p.add_argument("--data-root", type=Path, required=True, help="dataset folder to write into")
    p.add_argument(
        "--folder",
        default="MNIST",
        choices=[d.torchvision for d in DATASETS.values() if d.content is not None],
        help="torchvision's folder of an MNIST-format dataset (MNIST)",
    )
    p.add_argument("--n-train", type=int, default=60000, help="training images (60000)")
    p.add_argument("--n-test", type=int, default=10000, help="test images (10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated data (0)")
    p.set_defaults(func=cmd_synth_mnist)


def cmd_synth_mnist(args: argparse.Namespace) -> None:
    """Run ``ggnbench synth-mnist``."""
    from ggnbench.workload.synthetic import write_mnist

    write_mnist(args.data_root, args.folder, args.n_train, args.n_test, args.seed)
    print(
        f"wrote synthetic {args.folder} ({args.n_train} train, {args.n_test} test) under "
        f"{args.data_root}"
    )
