"""Device names: resolve ``cpu``/``cuda``/``auto`` and synchronize for timing; CPU cores."""

from __future__ import annotations

import math
import os
import sys

import torch

from ggnbench import defaults
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


#: Whether this process has compared its torch threads with the free cores (at its first
#: CPU run: the load of later runs includes its own).
_threads_checked = False


def free_cores() -> tuple[int, int, float] | None:
    """The cores this process may run on, how many of them are free, and the load.

    Returns:
        ``(cores, free, load)``: free is the cores less the one-minute load average,
        rounded to whole cores, at least :data:`~ggnbench.defaults.MIN_FREE_CORES`; None
        where the system gives no load average.
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this system: every core
        cores = os.cpu_count() or 1
    free = max(defaults.MIN_FREE_CORES, math.floor(cores - load + 0.5))
    return cores, free, load


def note_busy_cores(threads: int) -> str | None:
    """Say once per process, on stderr, that a run has more torch threads than free cores.

    Threads beyond the free cores wait for each other at every parallel region, and a step
    runs many times slower than on an idle machine. Checked at the first call only.

    Args:
        threads: The run's torch CPU threads.

    Returns:
        The note printed, or None (enough free cores, checked before, or no load average).
    """
    global _threads_checked
    if _threads_checked:
        return None
    _threads_checked = True
    measured = free_cores()
    if measured is None:
        return None
    cores, free, load = measured
    if threads <= free + defaults.SPARE_THREADS:
        return None
    note = (
        f"note: {threads} torch threads on a machine with {free} free "
        f"core{'s' if free != 1 else ''} ({cores} cores, load {load:.2f}); threads beyond "
        f"the free cores wait for each other and a step runs many times slower: use "
        f"--threads {free + defaults.SPARE_THREADS}"
    )
    print(note, file=sys.stderr, flush=True)
    return note
