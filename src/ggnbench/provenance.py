"""Provenance: software versions, git state and hardware, saved with every result."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Software whose versions every result records (and the provenance table shows).
PACKAGES = ("ggnbench", "torch", "torchvision", "backpack-for-pytorch", "pandas", "snakemake")


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _output(cmd: list[str]) -> str | None:
    """A command's stripped output, or None if it is missing, fails or hangs."""
    try:
        done = subprocess.run(
            cmd,
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _git(*args: str) -> str | None:
    return _output(["git", *args])


def cpu_model() -> str:
    """The CPU's model name.

    Returns:
        The name from ``/proc/cpuinfo`` where available, else ``platform.processor()``.
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect(device: str | torch.device = "cpu") -> dict[str, Any]:
    """Describe the software and hardware a result was produced on.

    Args:
        device: The device the result used; CUDA details are added for CUDA.

    Returns:
        Versions, git commit and dirty flag, CPU, and GPU/CUDA/driver where used.
    """
    import torch

    status = _git("status", "--porcelain", "--untracked-files=no")
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: _version(name) for name in PACKAGES},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "cpu": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "torch_cuda_build": torch.version.cuda,
    }
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        index = torch.device(device).index or 0
        info["gpu"] = torch.cuda.get_device_name(index)
        info["cuda_runtime"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
        info["driver"] = _nvidia_driver()
    return info


def _nvidia_driver() -> str | None:
    out = _output(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return out.splitlines()[0] if out else None
