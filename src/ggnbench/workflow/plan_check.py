"""The plan check: what the schema cannot check of a study configuration.

Grids complete, fixed points single, string values usable as folder names, and every
planned run's configuration valid as its job will find it (:func:`check_runs`), before
any run starts.
"""

from __future__ import annotations

import re
from typing import Any

from ggnbench.errors import GGNBenchError
from ggnbench.optimizers import plugins
from ggnbench.optimizers.optim import OPTIMIZERS, get_spec
from ggnbench.run.config import RunConfig
from ggnbench.workflow.study import (
    entry,
    hparam_grid,
    hyperparameters,
    optimizer_class,
    pairs,
    run_config,
)
from ggnbench.workload.problems import PROBLEMS

#: A string grid value must be usable as a folder name.
PATH_SAFE = re.compile(r"^[A-Za-z0-9_.+-]+$")


def named_problems(config: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Every place a study configuration names problems, with the names it gives.

    Args:
        config: Validated study configuration.

    Returns:
        ``(key, names)`` pairs: the study's problems, each optimizer's ``problems`` and
        ``per_problem``, the benchmark's networks and the end-to-end benchmark's problems.
    """
    found = [("problems", list(config["problems"]))]
    for optimizer, values in config["optimizers"].items():
        found.append((f"optimizers/{optimizer}/problems", list(values.get("problems", []))))
        found.append((f"optimizers/{optimizer}/per_problem", list(values.get("per_problem", {}))))
    for section, key in (("bench", "networks"), ("epoch_bench", "problems")):
        found.append((f"{section}/{key}", list(config.get(section, {}).get(key) or [])))
    return found


def check_plan(config: dict[str, Any]) -> None:
    """Check what the schema cannot: grids complete, fixed points single, every run valid.

    The last check validates each planned run's configuration as the job will
    (:func:`check_runs`), which imports every optimizer class named by import path and
    holds its entry's keys to the constructor.

    Entries in ``problems`` and ``per_problem`` that name a problem the study does not
    run are ignored, so that one problem can be run alone with ``--config problems=...``.

    Args:
        config: Validated study configuration.

    Raises:
        GGNBenchError: Naming the optimizer, the problem and the fix.
    """
    for key, names in named_problems(config):
        for name in names:
            if name not in PROBLEMS:
                raise GGNBenchError(
                    f"{key}: no problem of the registry is named {name!r}; use one of "
                    f"{', '.join(PROBLEMS)}"
                )
    for optimizer, values in config["optimizers"].items():
        kind = values.get("class", optimizer)
        if not plugins.is_import_path(kind) and kind not in OPTIMIZERS:
            raise GGNBenchError(
                f"optimizers/{optimizer}: no built-in optimizer is named {kind!r} (built in: "
                f"{', '.join(OPTIMIZERS)}); to add your own, give the entry "
                "class: package.module:Class"
            )
    for problem, optimizer in pairs(config):
        values = entry(config, problem, optimizer)
        where = f"optimizers/{optimizer} on {problem}"
        kind = optimizer_class(config, optimizer)
        names = hyperparameters(values)
        needed = ["lr"]
        if not plugins.is_import_path(kind):  # a class is checked with each run below
            spec = get_spec(kind)
            unknown = sorted(set(names) - {"lr", *spec.names})
            if unknown:
                raise GGNBenchError(
                    f"{where}: {kind!r} does not take {', '.join(unknown)}; it takes "
                    f"{', '.join(['lr', *spec.names])}"
                )
            for hyperparameter in spec.hyperparams:
                if isinstance(names.get(hyperparameter.name), list) and not hyperparameter.grid:
                    raise GGNBenchError(
                        f"{where}: {hyperparameter.name} takes one value, not a list (it is "
                        "not tuned over a grid); give one"
                    )
            needed += [h.name for h in spec.hyperparams if h.required]
        missing = [k for k in needed if k not in values]
        if missing:
            raise GGNBenchError(
                f"{where} has no {' or '.join(missing)}; give it in the entry or under "
                f"per_problem/{problem}"
            )
        for name, value in names.items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and not PATH_SAFE.match(item):
                    raise GGNBenchError(
                        f"{where}: {name} value {item!r} cannot name a folder; use letters, "
                        "digits and . _ + - only"
                    )
        points = len(hparam_grid(config, problem, optimizer))
        if not values["tune"] and points != 1:
            raise GGNBenchError(
                f"{where} is not tuned (tune: false) but its grid has {points} points; "
                "give one value per hyperparameter, or set tune: true"
            )
    timed = config.get("epoch_bench", {}).get("optimizers") or []
    unknown = [name for name in timed if name not in config["optimizers"]]
    if unknown:
        raise GGNBenchError(
            f"epoch_bench/optimizers: {', '.join(unknown)} not among the study's optimizers "
            f"({', '.join(config['optimizers'])}); name entries of optimizers:"
        )
    check_runs(config)


def check_runs(config: dict[str, Any]) -> None:
    """Validate every planned run's configuration (names, values, imports) before any runs.

    Args:
        config: Validated study configuration.

    Raises:
        GGNBenchError: Naming the run's optimizer and problem, and the problem found.
    """
    for problem, optimizer in pairs(config):
        for point in hparam_grid(config, problem, optimizer):
            fields = run_config(config, problem, optimizer, point, "cpu", 0)
            try:
                RunConfig(**fields).validate()
            except GGNBenchError as err:
                raise GGNBenchError(f"optimizers/{optimizer} on {problem}: {err}") from err
