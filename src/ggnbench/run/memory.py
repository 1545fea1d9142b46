"""Peak tensor memory that one call allocates, on CPU and CUDA.

Both devices report the same quantity: the peak of tensor bytes allocated during the
call on top of what was allocated before it (parameters, inputs, and for a timed
backward the saved activations of its forward pass are already there).

CUDA: ``torch.cuda.max_memory_allocated`` minus ``memory_allocated`` before the call,
after resetting the peak. CPU: a dispatch mode that sees every tensor the call
creates and, through a weak reference to its storage, the moment that storage is
freed; it counts exactly the bytes of live tensor storages, independent of the
allocator's caching and of the rest of the process (which RSS-based measures mix
in). It slows the call, so it runs apart from the timing.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ggnbench.devices import synchronize


class LiveTensorBytes(TorchDispatchMode):
    """Track the bytes of tensor storages created inside the mode, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._storages: dict[int, int] = {}

    def _release(self, key: int) -> None:
        self.live -= self._storages.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for item in tree_flatten(out)[0]:
            if not isinstance(item, torch.Tensor) or item.device.type != "cpu":
                continue
            storage = item.untyped_storage()
            key = id(storage)
            if key in self._storages or storage.nbytes() == 0:
                continue
            self._storages[key] = storage.nbytes()
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._release, key)
        return out


def peak_memory(fn: Callable[[], object], device: torch.device) -> tuple[int, str]:
    """Run ``fn`` once and return the peak bytes it allocates.

    Args:
        fn: The call to measure.
        device: Where it runs.

    Returns:
        (bytes, method name).
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before), "cuda_max_memory_allocated"
    with LiveTensorBytes() as tracker:
        fn()
    return int(tracker.peak), "dispatch_mode_live_storages"
