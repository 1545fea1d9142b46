"""MNIST-format (IDX) files: what a dataset's decompressed files must hold, and the check.

Checked from the bytes, without torchvision: the IDX header (magic number, element type,
dimensions), a length that matches the header, the image size, the number of examples,
labels in range with the expected count per class, and the SHA-256 of each decompressed
file where ggnbench ships one.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: IDX magic numbers of unsigned-byte files with one (labels) and three (images) dimensions.
_MAGIC = {1: 0x00000801, 3: 0x00000803}


@dataclass(frozen=True)
class IdxContent:
    """What the four decompressed files of an MNIST-format dataset hold.

    Attributes:
        examples: Number of examples per split prefix (``train``, ``t10k``); -1: any.
        image_shape: Height and width of one image.
        classes: Number of classes (labels lie in ``0 .. classes - 1``).
        per_class: Examples per class per split prefix; None where classes are unbalanced.
        sha256: SHA-256 of each decompressed file; files not named here are not hashed.
    """

    examples: dict[str, int]
    image_shape: tuple[int, int] = (28, 28)
    classes: int = 10
    per_class: dict[str, int] | None = None
    sha256: dict[str, str] = field(default_factory=dict)


def file_names(prefix: str) -> tuple[str, str]:
    """The images and labels file names of one split.

    Args:
        prefix: ``train`` or ``t10k``.

    Returns:
        ``(images, labels)`` file names, decompressed.
    """
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def sha256(data: bytes) -> str:
    """SHA-256 hex digest of some bytes.

    Args:
        data: The bytes.

    Returns:
        The hex digest.
    """
    return hashlib.sha256(data).hexdigest()


def parse(data: bytes) -> np.ndarray:
    """The array an unsigned-byte IDX file holds.

    Args:
        data: The decompressed file.

    Returns:
        The array, of the shape the header gives.

    Raises:
        ValueError: If the header or the length is not that of such a file.
    """
    if len(data) < 4:
        raise ValueError(f"{len(data)} bytes, shorter than an IDX header")
    zero, kind, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08 or ndim not in _MAGIC:
        raise ValueError(f"not an unsigned-byte IDX file (magic {data[:4].hex()})")
    head = 4 + 4 * ndim
    if len(data) < head:
        raise ValueError("its header is cut short")
    shape = struct.unpack(f">{ndim}I", data[4:head])
    expected = head + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"{len(data)} bytes where its header {list(shape)} needs {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=head).reshape(shape)


def problems(files: dict[str, bytes], content: IdxContent) -> list[tuple[str, str]]:
    """Everything wrong with a dataset's decompressed files.

    Args:
        files: Decompressed bytes per file name (all four).
        content: What they must hold.

    Returns:
        ``(file name, reason)`` pairs; empty when the files are intact.
    """
    found: list[tuple[str, str]] = []
    for prefix, n in content.examples.items():
        images_name, labels_name = file_names(prefix)
        arrays = {}
        for name, ndim in ((images_name, 3), (labels_name, 1)):
            try:
                arrays[name] = parse(files[name])
            except ValueError as err:
                found.append((name, str(err)))
                continue
            if arrays[name].ndim != ndim:
                found.append((name, f"{arrays[name].ndim} dimensions where {ndim} belong"))
                arrays.pop(name)
            elif n >= 0 and len(arrays[name]) != n:
                found.append((name, f"{len(arrays[name])} examples where {n} belong"))
        if images_name in arrays and arrays[images_name].shape[1:] != content.image_shape:
            size = "x".join(map(str, arrays[images_name].shape[1:]))
            found.append((images_name, f"images of {size} where {content.image_shape} belong"))
        if labels_name in arrays:
            found += _label_problems(labels_name, arrays[labels_name], prefix, content)
    for name, digest in content.sha256.items():
        damaged = any(f == name for f, _ in found)
        if name in files and not damaged and sha256(files[name]) != digest:
            found.append((name, "its SHA-256 differs from the original file's"))
    return found


def _label_problems(
    name: str, labels: np.ndarray, prefix: str, content: IdxContent
) -> list[tuple[str, str]]:
    if labels.size and int(labels.max()) >= content.classes:
        return [(name, f"label {int(labels.max())} outside 0-{content.classes - 1}")]
    if content.per_class is None:
        return []
    counts = np.bincount(labels, minlength=content.classes)
    want = content.per_class[prefix]
    wrong = [c for c in range(content.classes) if counts[c] != want]
    if wrong:
        c = wrong[0]
        return [(name, f"{counts[c]} examples of class {c} where {want} belong")]
    return []


def read_folder(folder: Path, names: list[str]) -> dict[str, bytes]:
    """The decompressed bytes of the files present in a folder (``NAME`` or ``NAME.gz``).

    Args:
        folder: Where the files lie.
        names: Decompressed file names to look for.

    Returns:
        Bytes per name found; a ``.gz`` that cannot be decompressed raises.

    Raises:
        ValueError: If a ``.gz`` file is damaged (names the file).
    """
    import gzip
    import zlib

    out: dict[str, bytes] = {}
    for name in names:
        plain, packed = folder / name, folder / f"{name}.gz"
        if plain.is_file():
            out[name] = plain.read_bytes()
        elif packed.is_file():
            try:
                out[name] = gzip.decompress(packed.read_bytes())
            except (OSError, EOFError, zlib.error) as err:
                raise ValueError(f"{packed}: cannot be decompressed ({err})") from err
    return out
