"""Where a study's files go: run folders, manifests, ``best.json``, dataset markers.

Paths encode parameters::

    <results>/runs/<problem>/<optimizer>/lr=<lr>[/<axis>=<v>...]/device=<dev>/seed=<s>/

for tuning runs and final seeds alike (:func:`run_dir`; ``lr`` first, the other axes in
alphabetical order: :func:`hparam_dir`). A final run's point is known only once tuning has
chosen it: the plan writes ``best`` in its place (:data:`CHOSEN`), and the job that runs it
reads ``best.json`` and puts the run in the chosen point's folder (:func:`chosen_dir`).
Each path is filled from its template in :mod:`ggnbench.workflow.layout`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ggnbench.workflow import layout


def fmt(value: float | str | bool) -> str:
    """Format a grid value for a path so that it reads back as the same value.

    Args:
        value: A number (formatted so that ``float(fmt(x)) == x``), a bool or a string.

    Returns:
        The number's shortest round-tripping representation, ``true``/``false``, or the
        string itself.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return repr(float(value))


#: The folder segment the plan writes for a final run's point before tuning has chosen it.
CHOSEN = "best"


def chosen_dir(out: str, point: dict[str, Any]) -> str:
    """A planned final run's folder with the chosen point in place of :data:`CHOSEN`.

    Args:
        out: The planned folder (its last ``best`` segment is replaced).
        point: The chosen grid point.

    Returns:
        The folder, as tuning runs name theirs (``.../lr=<lr>/damping=<d>/...``).
    """
    parts = list(Path(out).parts)
    index = len(parts) - 1 - parts[::-1].index(CHOSEN)
    parts[index] = hparam_dir(point)
    return str(Path(*parts))


def hparam_dir(hparams: dict[str, Any]) -> str:
    """The path fragment that encodes a grid point.

    Args:
        hparams: A grid point (in any key order: ``best.json`` stores it sorted).

    Returns:
        ``lr=<lr>`` followed by ``/<axis>=<value>`` per further axis in alphabetical
        order (``damping`` for DiagGGN).
    """
    keys = ["lr", *sorted(k for k in hparams if k != "lr")]
    return "/".join(f"{k}={fmt(hparams[k])}" for k in keys if hparams.get(k) is not None)


def run_dir(
    config: dict[str, Any], problem: str, optimizer: str, hp_dir: str, device: str, seed: int
) -> str:
    """The folder of one run.

    Args:
        config: Validated study configuration.
        problem: Problem name.
        optimizer: Optimizer name.
        hp_dir: :func:`hparam_dir` of the grid point, or ``best``.
        device: Device name.
        seed: Seed.

    Returns:
        The folder path, as a string.
    """
    return layout.fill(layout.RUN, results=config["results"], problem=problem,
                       optimizer=optimizer, point=hp_dir, device=device, seed=seed)  # fmt: skip


def manifest_path(
    config: dict[str, Any], stage: str, problem: str, optimizer: str, device: str, index: int
) -> str:
    """Where a chunk's manifest (its list of finished runs) goes.

    Args:
        config: Validated study configuration.
        stage: ``tune`` or ``final``.
        problem: Problem name.
        optimizer: Optimizer name.
        device: Device name.
        index: Chunk index.

    Returns:
        The path, as a string.
    """
    return layout.fill(
        layout.MANIFEST, results=config["results"], stage=stage, problem=problem,
        optimizer=optimizer, device=device, chunk=index,
    )  # fmt: skip


def best_path(config: dict[str, Any], problem: str, optimizer: str, device: str) -> str:
    """Where the tuning choice of one (problem, optimizer, device) goes.

    Args:
        config: Validated study configuration.
        problem: Problem name.
        optimizer: Optimizer name.
        device: Device name.

    Returns:
        The path of ``best.json``.
    """
    return layout.fill(layout.BEST, results=config["results"], problem=problem,
                       optimizer=optimizer, device=device)  # fmt: skip


def dataset_marker(config: dict[str, Any], dataset: str) -> str:
    """The file the download rule writes once a dataset is in place.

    Args:
        config: Validated study configuration.
        dataset: Dataset name.

    Returns:
        The marker path.
    """
    return str(Path(config["results"]) / "data" / f"{dataset}.ready")
