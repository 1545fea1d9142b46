"""Device names: resolve ``cpu``/``cuda``/``auto`` and synchronize for timing."""

from __future__ import annotations

import torch

from ggnbench.errors import GGNBenchError

#: The device names a run takes (``cuda:N``: the CUDA device numbered N).
DEVICE_NAMES = ("cpu", "cuda", "cuda:N", "auto")


def cuda_available() -> bool:
    """Whether torch sees a CUDA device.

    Returns:
        ``torch.cuda.is_available()``.
    """
    return torch.cuda.is_available()


def resolve_device(name: str) -> torch.device:
    """Turn a device name into a torch device, refusing CUDA where there is none.

    Args:
        name: One of :data:`DEVICE_NAMES`: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``
            (CUDA when present).

    Returns:
        The device.

    Raises:
        GGNBenchError: On an unknown name, or CUDA asked for without CUDA.
    """
    if name == "auto":
        return torch.device("cuda" if cuda_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda_available():
            raise GGNBenchError(
                f"device {name!r} requested but torch {torch.__version__} sees no CUDA device; "
                "use --device cpu, or run on a machine with an NVIDIA GPU and a CUDA build of torch"
            )
        return torch.device(name)
    raise GGNBenchError(f"unknown device {name!r}; use one of {list(DEVICE_NAMES)}")


def synchronize(device: torch.device) -> None:
    """Wait for queued work on a CUDA device; no-op on CPU.

    Args:
        device: The device.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
