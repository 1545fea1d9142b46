"""One workflow per results folder: an advisory lock that a killed process cannot leave behind.

Snakemake's own working-directory lock is off in the local profile, because a
SIGKILLed workflow would leave it stale and the same command could not resume. This
lock is an ``flock`` on ``<results>/.ggnbench.workflow.lock``: the kernel releases it when the
holding process ends, however it ends, so resuming after ``kill -9`` just works,
while a second workflow started on the same folder stops at once.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import IO

from ggnbench.errors import GGNBenchError

LOCK_NAME = ".ggnbench.workflow.lock"

#: Lock files this process holds, kept open so that the locks last as long as it does.
_HELD: dict[Path, IO[str]] = {}


def check_writable(results_dir: str | Path) -> None:
    """Check, without creating anything, that the results folder can be made and written.

    Args:
        results_dir: The study's results folder.

    Raises:
        GGNBenchError: If the folder, or its nearest existing parent, is not a writable folder.
    """
    folder = Path(results_dir).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        cause = "is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        cause = "is not writable"
    else:
        return
    raise GGNBenchError(
        f"cannot write to results folder {results_dir}: {existing} {cause}; make it writable "
        "or set another 'results' folder (--config results=PATH)"
    )


def acquire(results_dir: str | Path) -> IO[str]:
    """Take the results folder's lock for the life of this process.

    Args:
        results_dir: The study's results folder (created if absent).

    Returns:
        The open lock file (kept open by this module until the process ends).

    Raises:
        GGNBenchError: If the folder cannot be written, or another process holds the lock.
    """
    folder = Path(results_dir)
    path = folder / LOCK_NAME
    if path.resolve() in _HELD:
        return _HELD[path.resolve()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - held open for the process's lifetime
    except OSError as err:
        raise GGNBenchError(
            f"cannot write to results folder {folder}: {err.strerror}; make it writable "
            "or set another 'results' folder (--config results=PATH)"
        ) from err
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as err:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise GGNBenchError(
            f"another workflow ({holder}) is running on results folder {folder}; wait for "
            "it to finish, or set another 'results' folder (--config results=PATH)"
        ) from err
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    _HELD[path.resolve()] = handle
    return handle
