"""A tiny portable pseudo-random generator for the search space.

Python's `random` only promises reproducible `random()` values across
versions; this SplitMix64 (Steele et al., 2014) gives the same stream for a
seed on every machine and Python version, which the pinned splits rely on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_MASK64 = (1 << 64) - 1


class SplitMix64:
    """A tiny portable PRNG: identical output everywhere, unlike `random`."""

    def __init__(self, seed: int) -> None:
        self._state = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK64

    def next_u64(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """Uniform int in [0, n), without modulo bias."""
        limit = ((1 << 64) // n) * n
        while True:
            value = self.next_u64()
            if value < limit:
                return value % n

    def randint(self, low: int, high: int) -> int:
        """Uniform int in [low, high], both included."""
        return low + self.below(high - low + 1)

    def uniform(self) -> float:
        """Uniform float in [0, 1)."""
        return (self.next_u64() >> 11) / float(1 << 53)

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.below(len(seq))]


__all__ = ["SplitMix64"]
