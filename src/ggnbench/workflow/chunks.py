"""The study's training jobs: each stage's runs cut into chunks, one manifest per chunk.

A job runs one chunk of ``chunk_size`` runs of one (problem, optimizer, device) in its
stage and writes the chunk's manifest (:func:`ggnbench.workflow.paths.manifest_path`).
"""

from __future__ import annotations

import math
from typing import Any

from ggnbench.workflow.paths import manifest_path
from ggnbench.workflow.study import combos, runs


def n_chunks(config: dict[str, Any], stage: str, problem: str, optimizer: str) -> int:
    """How many jobs a stage is split into (``chunk_size`` runs each).

    Args:
        config: Validated study configuration.
        stage: ``tune`` or ``final``.
        problem: Problem name.
        optimizer: Optimizer name.

    Returns:
        The number of chunks (0 for the tuning of an optimizer that is not tuned).
    """
    total = len(runs(config, stage, problem, optimizer, "cpu"))
    return math.ceil(total / config["chunk_size"])


def chunk(
    config: dict[str, Any], stage: str, problem: str, optimizer: str, device: str, index: int
) -> list[dict]:
    """The runs of one job.

    Args:
        config: Validated study configuration.
        stage: ``tune`` or ``final``.
        problem: Problem name.
        optimizer: Optimizer name.
        device: Device name.
        index: Chunk index, from 0.

    Returns:
        The runs, as in :func:`~ggnbench.workflow.study.runs`.
    """
    size = config["chunk_size"]
    return runs(config, stage, problem, optimizer, device)[index * size : (index + 1) * size]


def manifests(config: dict[str, Any], devices: list[str], stage: str) -> list[str]:
    """Every chunk manifest of a stage.

    Args:
        config: Validated study configuration.
        devices: Resolved devices.
        stage: ``tune`` or ``final``.

    Returns:
        Paths.
    """
    return [
        manifest_path(config, stage, p, o, d, i)
        for p, o, d in combos(config, devices)
        for i in range(n_chunks(config, stage, p, o))
    ]
