"""Checks of hyperparameter values, shared by every optimizer and the run configuration."""

from __future__ import annotations

import math

from ggnbench.errors import GGNBenchError


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
