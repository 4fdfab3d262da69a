"""Drawing block-family specs: the ranges (`BlocksSpace`) and one draw."""

from __future__ import annotations

import dataclasses
from typing import Any

from ghnq_tf.search_space._checks import (
    check_min_max,
    check_optional_limit,
    check_probability,
    is_int,
)
from ghnq_tf.search_space._rng import SplitMix64
from ghnq_tf.search_space.blocks import (
    BLOCK_KEYS,
    BLOCKS,
    BLOCKS_VERSION,
    EXPANDS,
    FAMILY,
    GROWTHS,
    MAX_DEPTH,
    MAX_STAGES,
    MAX_WIDTH,
)
from ghnq_tf.search_space.blocks_cost import cost


@dataclasses.dataclass(frozen=True)
class BlocksSpace:
    """Ranges the block family is sampled from (all bounds included).

    Attributes:
        stem: widths the stem conv is drawn from.
        num_stages: (min, max) stages.
        depth: (min, max) blocks per stage.
        first_width: widths of the first stage.
        max_width: stage widths are capped at this.
        blocks: block kinds drawn from, uniformly.
        mixed_prob: probability that each stage draws its own block kind
            (otherwise one kind for the whole network).
        downsample_prob: probability that a stage after the first has stride 2
            (the first stage keeps stride 1).
        bn_prob: probability that a network uses batch norm.
        head: head widths drawn from (0: no head conv).
        max_macs: networks with more multiply-adds per 32×32×3 image (10
            classes) are redrawn; None for no limit.
        max_params: networks with more trainable parameters are redrawn; None
            for no limit.

    Example:
        >>> space = BlocksSpace(blocks=("basic", "bottleneck"), num_stages=(3, 3))
        >>> from ghnq_tf.search_space import sample
        >>> specs = sample(3, seed=0, space=space)
    """

    stem: tuple[int, ...] = (16, 24, 32)
    num_stages: tuple[int, int] = (2, 4)
    depth: tuple[int, int] = (1, 3)
    first_width: tuple[int, ...] = (16, 24, 32)
    max_width: int = 128
    blocks: tuple[str, ...] = BLOCKS
    mixed_prob: float = 0.1
    downsample_prob: float = 0.8
    bn_prob: float = 0.9
    head: tuple[int, ...] = (0, 0, 128, 256)
    max_macs: int | None = 80_000_000
    max_params: int | None = 2_000_000

    def __post_init__(self) -> None:
        check_min_max(self, "num_stages", "depth")
        if self.num_stages[1] > MAX_STAGES or self.depth[1] > MAX_DEPTH:
            raise ValueError(
                f"`num_stages` and `depth` must be at most {MAX_STAGES} and {MAX_DEPTH}. "
                f"Received: num_stages={self.num_stages!r}, depth={self.depth!r}"
            )
        for key, low in (("stem", 1), ("first_width", 1), ("head", 0)):
            values = getattr(self, key)
            if (
                not isinstance(values, tuple)
                or not values
                or not all(is_int(v) and low <= v <= MAX_WIDTH for v in values)
            ):
                raise ValueError(
                    f"`{key}` must be a non-empty tuple of ints in [{low}, {MAX_WIDTH}]. "
                    f"Received: {key}={values!r}"
                )
        if not is_int(self.max_width) or not 1 <= self.max_width <= MAX_WIDTH:
            raise ValueError(
                f"`max_width` must be an int in [1, {MAX_WIDTH}]. "
                f"Received: max_width={self.max_width!r}"
            )
        if not self.blocks or any(block not in BLOCKS for block in self.blocks):
            raise ValueError(
                f"`blocks` must be a non-empty subset of {BLOCKS}. Received: blocks={self.blocks!r}"
            )
        check_probability(self, "mixed_prob", "downsample_prob", "bn_prob")
        check_optional_limit(self, "max_macs", "max_params")


def _weighted(rng: SplitMix64, choices: tuple[tuple[Any, float], ...]) -> Any:
    u = rng.uniform() * sum(weight for _, weight in choices)
    for value, weight in choices:
        u -= weight
        if u < 0:
            return value
    return choices[-1][0]


def _activation(rng: SplitMix64, block: str) -> str:
    if block == "inverted":
        return _weighted(rng, (("relu6", 0.8), ("relu", 0.2)))
    if block == "mbconv":
        return rng.choice(("swish", "hard_swish"))
    return _weighted(rng, (("relu", 0.7), ("relu6", 0.1), ("swish", 0.1), ("hard_swish", 0.1)))


def _round8(value: float) -> int:
    return max(8, int(value / 8 + 0.5) * 8)


def _sample_stage(
    rng: SplitMix64, block: str, width: int, stride: int, space: BlocksSpace
) -> dict[str, Any]:
    stage: dict[str, Any] = {
        "block": block,
        "width": width,
        "depth": rng.randint(*space.depth),
        "stride": stride,
        "activation": _activation(rng, block),
        "kernel": _weighted(rng, ((3, 0.75), (5, 0.25))),
    }
    keys = BLOCK_KEYS[block]
    if "dilation" in keys:
        stage["dilation"] = _weighted(rng, ((1, 0.8), (2, 0.2)))
    if "separable" in keys:
        stage["separable"] = rng.uniform() < 0.25
    if "expand" in keys:
        stage["expand"] = rng.choice(EXPANDS[block])
    if "se" in keys:
        stage["se"] = rng.uniform() < (0.7 if block == "mbconv" else 0.25)
    if "growth" in keys:
        stage["growth"] = rng.choice(GROWTHS)
    return stage


def sample_one(rng: SplitMix64, space: BlocksSpace) -> dict[str, Any] | None:
    """One draw from `space` (None when it breaks the space's limits)."""
    num_stages = rng.randint(*space.num_stages)
    network_block = rng.choice(space.blocks)
    stages = []
    width = rng.choice(space.first_width)
    for index in range(num_stages):
        block = rng.choice(space.blocks) if rng.uniform() < space.mixed_prob else network_block
        stride = 1
        if index > 0:
            stride = 2 if rng.uniform() < space.downsample_prob else 1
            factor = 2.0 if stride == 2 else rng.choice((1.0, 1.5))
            width = min(space.max_width, _round8(width * factor))
        stages.append(_sample_stage(rng, block, width, stride, space))
    spec = {
        "version": BLOCKS_VERSION,
        "family": FAMILY,
        "stem": rng.choice(space.stem),
        "bn": rng.uniform() < space.bn_prob,
        "head": rng.choice(space.head),
        "stages": stages,
    }
    macs, params = cost(spec)
    if space.max_macs is not None and macs > space.max_macs:
        return None
    if space.max_params is not None and params > space.max_params:
        return None
    return spec


__all__ = ["BlocksSpace", "sample_one"]
