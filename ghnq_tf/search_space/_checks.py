"""Argument checks shared by the two families' space definitions."""

from __future__ import annotations

from typing import Any


def is_int(value: Any) -> bool:
    """Whether `value` is an int (a bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_min_max(space: Any, *keys: str) -> None:
    """Each of `keys` must be a (min, max) tuple of positive ints with min <= max."""
    for key in keys:
        low_high = getattr(space, key)
        if (
            not isinstance(low_high, tuple)
            or len(low_high) != 2
            or not all(is_int(v) and v >= 1 for v in low_high)
            or low_high[0] > low_high[1]
        ):
            raise ValueError(
                f"`{key}` must be a (min, max) tuple of positive ints with min <= max. "
                f"Received: {key}={low_high!r}"
            )


def check_probability(space: Any, *keys: str) -> None:
    """Each of `keys` must be a number in [0, 1]."""
    for key in keys:
        value = getattr(space, key)
        if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ValueError(f"`{key}` must be in [0, 1]. Received: {key}={value!r}")


def check_optional_limit(space: Any, *keys: str) -> None:
    """Each of `keys` must be None or a non-negative int."""
    for key in keys:
        value = getattr(space, key)
        if value is not None and (not is_int(value) or value < 0):
            raise ValueError(
                f"`{key}` must be None or a non-negative int. Received: {key}={value!r}"
            )
