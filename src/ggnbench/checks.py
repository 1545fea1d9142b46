"""Checks of hyperparameter values, shared by every optimizer and the run configuration.

A named option (a run's holdout, an optimizer's curvature average, ...) is a
:class:`~enum.StrEnum` declared in the module that owns it; :func:`check_option` turns a
name given as a string (command line, configuration, ``run.json``) into its member.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TypeVar

from ggnbench.errors import GGNBenchError

#: A named option's enumeration.
Option = TypeVar("Option", bound=StrEnum)


def check_positive(name: str, value: float) -> None:
    """Reject a hyperparameter that is not a finite number > 0.

    Args:
        name: Hyperparameter name, for the message.
        value: Its value.

    Raises:
        GGNBenchError: If the value is not finite and positive.
    """
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise GGNBenchError(f"{name} must be a finite number > 0, got {value!r}")


def check_non_negative(name: str, value: float) -> None:
    """Reject a hyperparameter that is not a finite number >= 0.

    Args:
        name: Hyperparameter name, for the message.
        value: Its value.

    Raises:
        GGNBenchError: If the value is not finite and non-negative.
    """
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise GGNBenchError(f"{name} must be a finite number >= 0, got {value!r}")


def check_positive_int(name: str, value: int) -> None:
    """Reject a value that is not an integer >= 1.

    Args:
        name: Name, for the message.
        value: Its value.

    Raises:
        GGNBenchError: If the value is not a positive integer.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GGNBenchError(f"{name} must be an integer >= 1, got {value!r}")


def values(option: type[StrEnum]) -> tuple[str, ...]:
    """An option's names as plain strings, in declaration order (choices, messages).

    Args:
        option: The option's enumeration.

    Returns:
        Its members' values.
    """
    return tuple(member.value for member in option)


def check_option(name: str, option: type[Option], value: object) -> Option:
    """The member of an option that a value names, or a one-line error listing every name.

    Args:
        name: The option's name, for the message.
        option: Its enumeration.
        value: A member, or its value as a string.

    Returns:
        The member.

    Raises:
        GGNBenchError: If the value names no member.
    """
    try:
        return option(value)
    except ValueError:
        raise GGNBenchError(
            f"unknown {name} {value!r}; use one of {list(values(option))}"
        ) from None
