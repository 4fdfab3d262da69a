"""Parsing and validation of the `bits` argument.

`bits` is one of:

* an int in 2..8: weights and activations alike (``4`` means W4A4);
* a ``(weight_bits, activation_bits)`` pair (``(4, 8)`` means W4A8);
* a per-layer policy ``{layer_name: bits or (w, a)}``; the special key
  ``"default"`` gives the bits of every layer not named (8 when absent).

Example:
    >>> parse_bits(4)
    BitsSpec(default=(4, 4), layers={})
    >>> parse_bits({"default": 4, "conv1": (8, 4)}).layers
    {'conv1': (8, 4)}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

MIN_BITS = 2
MAX_BITS = 8
DEFAULT_KEY = "default"

BitsPair = tuple[int, int]


def bits_error(bits: Any, detail: str = "") -> ValueError:
    """The Keras-style error for an invalid `bits` argument."""
    message = (
        f"`bits` must be an int in {MIN_BITS}..{MAX_BITS}, a (weight_bits, activation_bits) "
        f"pair or a {{layer_name: bits}} policy. Received: bits={bits!r}"
    )
    if detail:
        message += f" ({detail})"
    return ValueError(message)


@dataclasses.dataclass(frozen=True)
class BitsSpec:
    """A validated `bits` argument.

    Attributes:
        default: (weight_bits, activation_bits) of every layer not in `layers`.
        layers: per-layer (weight_bits, activation_bits) overrides, by layer name.
    """

    default: BitsPair
    layers: dict[str, BitsPair] = dataclasses.field(default_factory=dict)

    @property
    def is_uniform(self) -> bool:
        """True when every layer uses `default`."""
        return all(pair == self.default for pair in self.layers.values())


def _is_bits_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and MIN_BITS <= value <= MAX_BITS


def _as_pair(value: Any) -> BitsPair | None:
    """(w, a) for a valid int or pair, else None."""
    if _is_bits_int(value):
        return (int(value), int(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_bits_int, value)):
        return (int(value[0]), int(value[1]))
    return None


def parse_bits(bits: Any) -> BitsSpec:
    """Validates `bits` and returns it as a `BitsSpec`.

    Args:
        bits: an int in 2..8, a (weight_bits, activation_bits) pair, or a
            {layer_name: bits or (w, a)} dict with an optional "default" key.

    Returns:
        The parsed `BitsSpec` (layer names are not checked here; see
        `ghnq_tf.quant.policy.resolve_policy`).

    Raises:
        ValueError: worded like Keras, quoting the received value.

    Example:
        >>> parse_bits((4, 8))
        BitsSpec(default=(4, 8), layers={})
    """
    pair = _as_pair(bits)
    if pair is not None:
        return BitsSpec(default=pair)
    if not isinstance(bits, Mapping):
        raise bits_error(bits)
    default = (MAX_BITS, MAX_BITS)
    layers: dict[str, BitsPair] = {}
    for name, value in bits.items():
        if not isinstance(name, str):
            raise bits_error(bits, f"policy keys must be layer names, got {name!r}")
        pair = _as_pair(value)
        if pair is None:
            raise bits_error(bits, f"invalid bits {value!r} for {name!r}")
        if name == DEFAULT_KEY:
            default = pair
        else:
            layers[name] = pair
    return BitsSpec(default=default, layers=layers)


def check_first_last_bits(first_last_bits: Any) -> int | None:
    """Validates the `first_last_bits` option (None or an int in 2..8)."""
    if first_last_bits is None or _is_bits_int(first_last_bits):
        return first_last_bits
    raise ValueError(
        f"`first_last_bits` must be None or an int in {MIN_BITS}..{MAX_BITS}. "
        f"Received: first_last_bits={first_last_bits!r}"
    )
