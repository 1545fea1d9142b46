"""The study plan: which runs a validated configuration asks for, and their configurations.

The Snakefile and the ``sweep`` command both call these functions, so the rules
stay thin and the run list is defined once; :mod:`ggnbench.workflow.paths` says where
each run goes, :mod:`ggnbench.workflow.chunks` cuts the runs into jobs and
:mod:`ggnbench.workflow.plan_check` checks the plan.

``<optimizer>`` is the entry's key in ``optimizers``. An entry without ``class`` is the
built-in optimizer of that name; with ``class`` it is a built-in by registry name or any
torch optimizer by import path (``package.module:Class``, :mod:`ggnbench.optimizers.plugins`).
In an entry, a list is a grid axis (the axes are crossed; ``lr`` first, the others in
alphabetical order in paths) and a scalar is a fixed value.

An optimizer entry may run on some problems only (``problems``), override its values per
problem (``per_problem``), and skip tuning (``tune: false``): its final seeds then run
at its single grid point, as the paper ran its baselines at DeepOBS's learning rates.
"""

from __future__ import annotations

import itertools
from typing import Any

from ggnbench import defaults
from ggnbench.devices import cuda_available
from ggnbench.errors import GGNBenchError
from ggnbench.optimizers import plugins
from ggnbench.optimizers.optim import get_spec
from ggnbench.workflow.paths import CHOSEN, hparam_dir, run_dir

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


#: Keys of an optimizer entry that shape the plan rather than set a hyperparameter.
PLAN_KEYS = ("class", "problems", "per_problem", "tune")
#: Keys of an optimizer entry that set its runs' data protocol in place of the study's.
RUN_KEYS = ("holdout", "evaluation", "allow_large_curvature")


def optimizer_class(config: dict[str, Any], optimizer: str) -> str:
    """What builds an entry's optimizer: its ``class``, else its key (a registry name).

    Args:
        config: Validated study configuration.
        optimizer: The entry's key.

    Returns:
        A registry name or an import path.
    """
    return config["optimizers"][optimizer].get("class", optimizer)


def relative_cost(config: dict[str, Any], optimizer: str) -> float:
    """How slow an entry's steps are relative to SGD's (1 for a class by import path).

    Args:
        config: Validated study configuration.
        optimizer: The entry's key.

    Returns:
        The registry's ``cost`` of the optimizer that builds it.
    """
    kind = optimizer_class(config, optimizer)
    return 1.0 if plugins.is_import_path(kind) else get_spec(kind).cost


def hyperparameters(values: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters of an :func:`entry` (every key but ``tune``).

    Args:
        values: An entry.

    Returns:
        Name to value (a list for a grid axis).
    """
    return {k: v for k, v in values.items() if k != "tune"}


def run_keys(config: dict[str, Any], problem: str, optimizer: str) -> dict[str, Any]:
    """An entry's own data protocol on one problem (:data:`RUN_KEYS`), if it sets one.

    Args:
        config: Validated study configuration.
        problem: Problem name.
        optimizer: Optimizer name.

    Returns:
        ``holdout`` and ``evaluation`` where the entry or its ``per_problem`` sets them.
    """
    base = config["optimizers"][optimizer]
    merged = {**base, **base.get("per_problem", {}).get(problem, {})}
    return {k: merged[k] for k in RUN_KEYS if k in merged}


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
    merged = {k: v for k, v in base.items() if k not in PLAN_KEYS + RUN_KEYS}
    merged["tune"] = base.get("tune", True)
    overrides = base.get("per_problem", {}).get(problem, {})
    merged.update({k: v for k, v in overrides.items() if k not in RUN_KEYS})
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


def hparam_grid(config: dict[str, Any], problem: str, optimizer: str) -> list[dict[str, Any]]:
    """The grid of one optimizer on one problem: its list-valued entries, crossed.

    Args:
        config: Validated study configuration.
        problem: Problem name.
        optimizer: Optimizer name.

    Returns:
        One dict per grid point: ``lr`` first (a single ``lr`` counts as a one-point
        axis), then the other axes in alphabetical order (``damping`` for DiagGGN).
    """
    values = hyperparameters(entry(config, problem, optimizer))
    lrs = values["lr"] if isinstance(values["lr"], list) else [values["lr"]]
    axes = sorted(k for k, v in values.items() if isinstance(v, list) and k != "lr")
    return [
        dict(zip(["lr", *axes], point, strict=True))
        for point in itertools.product(lrs, *(values[a] for a in axes))
    ]


def run_config(
    config: dict[str, Any],
    problem: str,
    optimizer: str,
    hparams: dict[str, float] | None,
    device: str,
    seed: int,
) -> dict[str, Any]:
    """The :class:`~ggnbench.run.config.RunConfig` fields of one run.

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
    opt = hyperparameters(entry(config, problem, optimizer))
    kind = optimizer_class(config, optimizer)
    point = hparams or {}
    fixed = {k: v for k, v in opt.items() if not isinstance(v, list) and k != "lr"}
    fields: dict[str, Any] = {
        "problem": problem,
        "optimizer": optimizer,
        "lr": point.get("lr"),
        "hparams": {**fixed, **{k: v for k, v in point.items() if k != "lr"}},
        "weight_decay": prob.get("weight_decay"),
        "seed": seed,
        "device": device,
        "steps": prob.get("steps"),
        "epochs": prob.get("epochs"),
        "batch_size": prob.get("batch_size"),
        "eval_every": prob["eval_every"],
        "eval_batch_size": config["eval_batch_size"],
        "keep_grad": False,
        "holdout": config.get("holdout", defaults.HOLDOUT),
        "evaluation": config.get("evaluation", defaults.EVALUATION),
        "data_path": config.get("data_path", defaults.DATA_PATH),
        "eval_path": config.get("eval_path", defaults.EVAL_PATH),
        "allow_large_curvature": False,
        **run_keys(config, problem, optimizer),
        "data_root": config["data_root"],
        "download": config["download"],
        "threads": config["threads"],
    }
    if kind != optimizer:
        fields["optimizer_class"] = kind
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
                "point": hp,
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
        hp_dir = CHOSEN if fixed is None else hparam_dir(fixed)
        return [
            {
                "out": run_dir(config, problem, optimizer, hp_dir, device, seed),
                "config": run_config(config, problem, optimizer, fixed, device, seed),
                "protocol": "tuned" if fixed is None else "fixed",
            }
            for seed in config["final_seeds"]
        ]
    raise GGNBenchError(f"unknown stage {stage!r}; use one of {STAGES}")


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
