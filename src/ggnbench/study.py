"""The study plan: which runs a validated configuration asks for, and where they go.

The Snakefile and the ``sweep`` command both call these functions, so the rules
stay thin and the run list is defined once. Paths encode parameters::

    <results>/runs/<problem>/<optimizer>/lr=<lr>[/damping=<d>]/device=<dev>/seed=<s>/
    <results>/runs/<problem>/<optimizer>/best/device=<dev>/seed=<s>/     (final seeds)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ggnbench.devices import cuda_available
from ggnbench.errors import GGNBenchError
from ggnbench.optim import get_spec, uses_damping

STAGES = ("tune", "final")


def resolve_devices(config: dict[str, Any], cuda: bool | None = None) -> list[str]:
    """The devices the study runs on.

    ``auto`` means cpu, plus cuda when torch sees CUDA here, or always when
    ``remote_devices`` says the jobs run on nodes this host cannot see.

    Args:
        config: Validated study configuration.
        cuda: Whether CUDA is available; detected when None.

    Returns:
        Device names.

    Raises:
        GGNBenchError: If cuda is asked for, absent here, and jobs run here.
    """
    cuda = cuda_available() if cuda is None else cuda
    remote = bool(config.get("remote_devices", False))
    devices = config["devices"]
    if devices == "auto":
        return ["cpu", "cuda"] if (cuda or remote) else ["cpu"]
    if "cuda" in devices and not (cuda or remote):
        raise GGNBenchError(
            "config asks for device 'cuda' but torch sees no CUDA device on this host; "
            "remove cuda from 'devices', use devices: auto, or set remote_devices: true "
            "if the jobs run on GPU nodes of a cluster"
        )
    return list(dict.fromkeys(devices))


def fmt(value: float) -> str:
    """Format a number for a path so that ``float(fmt(x)) == x``.

    Args:
        value: The number.

    Returns:
        Its shortest round-tripping representation.
    """
    return repr(float(value))


def hparam_grid(config: dict[str, Any], optimizer: str) -> list[dict[str, float]]:
    """The tuning grid of one optimizer.

    Args:
        config: Validated study configuration.
        optimizer: Optimizer name.

    Returns:
        One dict per grid point with ``lr`` (and ``damping`` for DiagGGN).
    """
    entry = config["optimizers"][optimizer]
    if uses_damping(optimizer):
        return [{"lr": lr, "damping": d} for lr in entry["lr"] for d in entry["damping"]]
    return [{"lr": lr} for lr in entry["lr"]]


def hparam_dir(hparams: dict[str, float]) -> str:
    """The path fragment that encodes a grid point.

    Args:
        hparams: ``lr`` and optional ``damping``.

    Returns:
        ``lr=<lr>`` or ``lr=<lr>/damping=<damping>``.
    """
    parts = [f"lr={fmt(hparams['lr'])}"]
    if hparams.get("damping") is not None:
        parts.append(f"damping={fmt(hparams['damping'])}")
    return "/".join(parts)


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
    return f"{config['results']}/runs/{problem}/{optimizer}/{hp_dir}/device={device}/seed={seed}"


def run_config(
    config: dict[str, Any],
    problem: str,
    optimizer: str,
    hparams: dict[str, float] | None,
    device: str,
    seed: int,
) -> dict[str, Any]:
    """The :class:`~ggnbench.train.RunConfig` fields of one run.

    Args:
        config: Validated study configuration.
        problem: Problem name.
        optimizer: Optimizer name.
        hparams: Grid point; None for a final run (filled from ``best.json``).
        device: Device name.
        seed: Seed.

    Returns:
        Keyword arguments for ``RunConfig``.
    """
    prob = config["problems"][problem]
    opt = config["optimizers"][optimizer]
    spec = get_spec(optimizer)
    fields: dict[str, Any] = {
        "problem": problem,
        "optimizer": optimizer,
        "lr": None if hparams is None else hparams["lr"],
        "damping": None if hparams is None else hparams.get("damping"),
        "momentum": opt.get("momentum") if "momentum" in spec.hyperparams else None,
        "curvature_average": opt.get("curvature_average"),
        "curvature_beta": opt.get("curvature_beta"),
        "weight_decay": prob.get("weight_decay"),
        "seed": seed,
        "device": device,
        "steps": prob.get("steps"),
        "epochs": prob.get("epochs"),
        "batch_size": prob.get("batch_size"),
        "eval_every": prob["eval_every"],
        "eval_batch_size": config["eval_batch_size"],
        "keep_grad": False,
        "data_root": config["data_root"],
        "download": config["download"],
        "threads": config["threads"],
    }
    return fields


def runs(
    config: dict[str, Any], stage: str, problem: str, optimizer: str, device: str
) -> list[dict]:
    """Every run of one stage for one (problem, optimizer, device).

    Args:
        config: Validated study configuration.
        stage: ``tune`` (grid x tuning seed) or ``final`` (best point x final seeds).
        problem: Problem name.
        optimizer: Optimizer name.
        device: Device name.

    Returns:
        Dicts with ``out`` (run folder) and ``config`` (run configuration).
    """
    if stage == "tune":
        seed = config["tuning_seed"]
        return [
            {
                "out": run_dir(config, problem, optimizer, hparam_dir(hp), device, seed),
                "config": run_config(config, problem, optimizer, hp, device, seed),
            }
            for hp in hparam_grid(config, optimizer)
        ]
    if stage == "final":
        return [
            {
                "out": run_dir(config, problem, optimizer, "best", device, seed),
                "config": run_config(config, problem, optimizer, None, device, seed),
            }
            for seed in config["final_seeds"]
        ]
    raise GGNBenchError(f"unknown stage {stage!r}; use one of {STAGES}")


def n_chunks(config: dict[str, Any], stage: str, problem: str, optimizer: str) -> int:
    """How many jobs a stage is split into (``chunk_size`` runs each).

    Args:
        config: Validated study configuration.
        stage: ``tune`` or ``final``.
        problem: Problem name.
        optimizer: Optimizer name.

    Returns:
        The number of chunks.
    """
    total = len(runs(config, stage, problem, optimizer, "cpu"))
    return max(1, math.ceil(total / config["chunk_size"]))


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
        The runs, as in :func:`runs`.
    """
    size = config["chunk_size"]
    return runs(config, stage, problem, optimizer, device)[index * size : (index + 1) * size]


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
    return f"{config['results']}/{stage}/{problem}/{optimizer}/device={device}/chunk={index}.json"


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
    return f"{config['results']}/tuning/{problem}/{optimizer}/device={device}/best.json"


def combos(config: dict[str, Any], devices: list[str]) -> list[tuple[str, str, str]]:
    """Every (problem, optimizer, device) of the study.

    Args:
        config: Validated study configuration.
        devices: Resolved devices.

    Returns:
        The triples, in config order.
    """
    return [(p, o, d) for p in config["problems"] for o in config["optimizers"] for d in devices]


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


def datasets(config: dict[str, Any]) -> list[str]:
    """The datasets the study's problems need.

    Args:
        config: Validated study configuration.

    Returns:
        Dataset names, without duplicates.
    """
    from ggnbench.problems import get_problem

    return list(dict.fromkeys(get_problem(p).dataset for p in config["problems"]))


def dataset_marker(config: dict[str, Any], dataset: str) -> str:
    """The file the download rule writes once a dataset is in place.

    Args:
        config: Validated study configuration.
        dataset: Dataset name.

    Returns:
        The marker path.
    """
    return str(Path(config["results"]) / "data" / f"{dataset}.ready")
