"""The study plan: which runs a validated configuration asks for, and where they go.

The Snakefile and the ``sweep`` command both call these functions, so the rules
stay thin and the run list is defined once. Paths encode parameters::

    <results>/runs/<problem>/<optimizer>/lr=<lr>[/damping=<d>]/device=<dev>/seed=<s>/
    <results>/runs/<problem>/<optimizer>/best/device=<dev>/seed=<s>/     (final seeds)

An optimizer entry may run on some problems only (``problems``), override its values per
problem (``per_problem``), and skip tuning (``tune: false``): its final seeds then run
at its single grid point, as the paper ran its baselines at DeepOBS's learning rates.
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


#: Keys of an optimizer entry that shape the plan rather than set a hyperparameter.
PLAN_KEYS = ("problems", "per_problem", "tune")


def entry(config: dict[str, Any], problem: str, optimizer: str) -> dict[str, Any]:
    """An optimizer's configuration on one problem, with its per-problem overrides.

    Args:
        config: Validated study configuration.
        problem: Problem name.
        optimizer: Optimizer name.

    Returns:
        The entry's values, overridden by ``per_problem[problem]``, plus ``tune``.
    """
    base = config["optimizers"][optimizer]
    merged = {k: v for k, v in base.items() if k not in PLAN_KEYS}
    merged["tune"] = base.get("tune", True)
    merged.update(base.get("per_problem", {}).get(problem, {}))
    return merged


def tuned(config: dict[str, Any], problem: str, optimizer: str) -> bool:
    """Whether an optimizer is tuned on a problem (False: it runs at a fixed point).

    Args:
        config: Validated study configuration.
        problem: Problem name.
        optimizer: Optimizer name.

    Returns:
        The entry's ``tune`` value.
    """
    return bool(entry(config, problem, optimizer)["tune"])


def check_plan(config: dict[str, Any]) -> None:
    """Check what the schema cannot: every grid is complete and fixed points are single.

    Entries in ``problems`` and ``per_problem`` that name a problem the study does not
    run are ignored, so that one problem can be run alone with ``--config problems=...``.

    Args:
        config: Validated study configuration.

    Raises:
        GGNBenchError: Naming the optimizer, the problem and the fix.
    """
    for problem, optimizer in pairs(config):
        values = entry(config, problem, optimizer)
        where = f"optimizers/{optimizer} on {problem}"
        needed = ["lr"] + (["damping"] if uses_damping(optimizer) else [])
        missing = [k for k in needed if k not in values]
        if missing:
            raise GGNBenchError(
                f"{where} has no {' or '.join(missing)}; give it in the entry or under "
                f"per_problem/{problem}"
            )
        points = len(hparam_grid(config, problem, optimizer))
        if not values["tune"] and points != 1:
            raise GGNBenchError(
                f"{where} is not tuned (tune: false) but its grid has {points} points; "
                "give one value per hyperparameter, or set tune: true"
            )


def hparam_grid(config: dict[str, Any], problem: str, optimizer: str) -> list[dict[str, float]]:
    """The grid of one optimizer on one problem.

    Args:
        config: Validated study configuration.
        problem: Problem name.
        optimizer: Optimizer name.

    Returns:
        One dict per grid point with ``lr`` (and ``damping`` for DiagGGN).
    """
    entry_ = entry(config, problem, optimizer)
    if uses_damping(optimizer):
        return [{"lr": lr, "damping": d} for lr in entry_["lr"] for d in entry_["damping"]]
    return [{"lr": lr} for lr in entry_["lr"]]


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
    opt = entry(config, problem, optimizer)
    spec = get_spec(optimizer)
    fields: dict[str, Any] = {
        "problem": problem,
        "optimizer": optimizer,
        "lr": None if hparams is None else hparams["lr"],
        "damping": None if hparams is None else hparams.get("damping"),
        "momentum": opt.get("momentum") if "momentum" in spec.hyperparams else None,
        "curvature_average": opt.get("curvature_average"),
        "curvature_beta": opt.get("curvature_beta"),
        "backend": opt.get("backend"),
        "weight_decay": prob.get("weight_decay"),
        "seed": seed,
        "device": device,
        "steps": prob.get("steps"),
        "epochs": prob.get("epochs"),
        "batch_size": prob.get("batch_size"),
        "eval_every": prob["eval_every"],
        "eval_batch_size": config["eval_batch_size"],
        "keep_grad": False,
        "holdout": config.get("holdout", "fixed"),
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
        Dicts with ``out`` (run folder) and ``config`` (run configuration); final runs
        also say their ``protocol``: ``tuned`` (best grid point) or ``fixed`` (not tuned).

    Raises:
        GGNBenchError: On an unknown stage.
    """
    if stage == "tune":
        if not tuned(config, problem, optimizer):
            return []
        seed = config["tuning_seed"]
        return [
            {
                "out": run_dir(config, problem, optimizer, hparam_dir(hp), device, seed),
                "config": run_config(config, problem, optimizer, hp, device, seed),
            }
            for hp in hparam_grid(config, problem, optimizer)
        ]
    if stage == "final":
        # A tuned optimizer's final seeds read their point from best.json; a fixed one's
        # point is the plan's, and its folder says it.
        fixed = (
            None
            if tuned(config, problem, optimizer)
            else hparam_grid(config, problem, optimizer)[0]
        )
        hp_dir = "best" if fixed is None else hparam_dir(fixed)
        return [
            {
                "out": run_dir(config, problem, optimizer, hp_dir, device, seed),
                "config": run_config(config, problem, optimizer, fixed, device, seed),
                "protocol": "tuned" if fixed is None else "fixed",
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


def pairs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (problem, optimizer) of the study: an optimizer runs on its ``problems``.

    Args:
        config: Validated study configuration.

    Returns:
        The pairs, in config order.
    """
    return [
        (p, o)
        for p in config["problems"]
        for o, base in config["optimizers"].items()
        if p in base.get("problems", config["problems"])
    ]


def combos(config: dict[str, Any], devices: list[str]) -> list[tuple[str, str, str]]:
    """Every (problem, optimizer, device) of the study.

    Args:
        config: Validated study configuration.
        devices: Resolved devices.

    Returns:
        The triples, in config order.
    """
    return [(p, o, d) for p, o in pairs(config) for d in devices]


def tuned_combos(config: dict[str, Any], devices: list[str]) -> list[tuple[str, str, str]]:
    """The (problem, optimizer, device) triples that are tuned (and have a ``best.json``).

    Args:
        config: Validated study configuration.
        devices: Resolved devices.

    Returns:
        The triples, in config order.
    """
    return [(p, o, d) for p, o, d in combos(config, devices) if tuned(config, p, o)]


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


def dataset_marker(config: dict[str, Any], dataset: str) -> str:
    """The file the download rule writes once a dataset is in place.

    Args:
        config: Validated study configuration.
        dataset: Dataset name.

    Returns:
        The marker path.
    """
    return str(Path(config["results"]) / "data" / f"{dataset}.ready")
