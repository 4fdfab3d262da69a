"""The block family: networks built from the blocks people use (the "zoo").

A blocks spec is a plain, JSON-serializable dict; the ``family`` key tells
it apart from a DARTS-cell spec (which has none)::

    {
        "version": 1,
        "family": "blocks",
        "stem": 24,               # channels of the 3×3 stem conv (stride 1)
        "bn": True,               # BatchNormalization everywhere, or nowhere
        "head": 0,                # channels of a 1×1 conv before pooling; 0: none
        "stages": [stage, ...],   # 1 to 6 stages, run in order
    }

Every stage has the keys ``block``, ``width`` (output channels), ``depth``
(blocks in the stage), ``stride`` (1 or 2, taken by the first block) and
``activation``, plus the keys of its block kind (`BLOCK_KEYS`):

- ``vgg`` (+ kernel, dilation, separable): VGG stack, [MaxPool 2×2 if
  stride 2], then depth × conv → BN → act.
- ``basic`` (+ kernel, dilation, separable, se): ResNet basic block, conv →
  BN → act → conv → BN [→ SE], plus the shortcut, then act.
- ``bottleneck`` (+ kernel, dilation, expand, se): ResNet bottleneck, 1×1 →
  k×k (strided) → 1×1 to width [→ SE], plus the shortcut, then act.
- ``inverted`` (+ kernel, expand): MobileNetV2 inverted residual, 1×1
  expansion → act → depthwise k×k → act → linear 1×1 projection.
- ``mbconv`` (+ kernel, expand, se): MobileNetV3 / EfficientNet block, the
  inverted residual with squeeze-and-excitation after the depthwise conv.
- ``dense`` (+ kernel, growth): DenseNet block, a transition 1×1 conv to
  width (then 2×2 average pool at stride 2), then depth × (1×1 conv to
  4·growth → k×k conv to growth), each concatenated to its input.

- ``kernel`` is 3 or 5; ``dilation`` (1 or 2) applies to the k×k convs at
  stride 1; ``separable`` makes the k×k convs `SeparableConv2D`.
- ``expand``: bottleneck width ratio (``width // expand`` inner channels, 2
  or 4); inverted/mbconv expansion factor of the input channels (1, 3, 4, 6).
- ``se``: squeeze-and-excitation on the residual branch (global average
  pool, 1×1 conv to ``max(8, c // 4)`` + ReLU, 1×1 conv back, sigmoid gate
  (hard sigmoid with hard-swish), Multiply).
- ``activation``: ``relu``, ``relu6``, ``swish`` or ``hard_swish``
  (``x · ReLU6(x + 3) / 6``); inverted blocks take ``relu6``/``relu``,
  mbconv blocks ``swish``/``hard_swish``.
- Shortcuts are identity when the shape is kept, else a 1×1 projection conv
  (+BN) at the block's stride (basic, bottleneck); inverted/mbconv blocks add
  their input only when the shape is kept, without an activation after.
- A dense stage outputs ``width + depth · growth`` channels; its transition
  conv is followed by a 2×2 average pool at stride 2.

Without batch norm the convolutions carry a bias instead. The network is
stem → stages → [head conv-BN-act] → GlobalAveragePooling2D → Dense.

This module needs no Keras: it samples, validates and costs specs; the
Keras model is made by `ghnq_tf.search_space.blocks_builder`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ghnq_tf.search_space._rng import SplitMix64

FAMILY = "blocks"
BLOCKS_VERSION = 1

BLOCKS: tuple[str, ...] = ("vgg", "basic", "bottleneck", "inverted", "mbconv", "dense")
ACTIVATIONS: tuple[str, ...] = ("relu", "relu6", "swish", "hard_swish")

#: Keys of a blocks spec.
SPEC_KEYS: tuple[str, ...] = ("version", "family", "stem", "bn", "head", "stages")
#: Keys every stage has.
STAGE_KEYS: tuple[str, ...] = ("block", "width", "depth", "stride", "activation")
#: The further keys of each block kind.
BLOCK_KEYS: dict[str, tuple[str, ...]] = {
    "vgg": ("kernel", "dilation", "separable"),
    "basic": ("kernel", "dilation", "separable", "se"),
    "bottleneck": ("kernel", "dilation", "expand", "se"),
    "inverted": ("kernel", "expand"),
    "mbconv": ("kernel", "expand", "se"),
    "dense": ("kernel", "growth"),
}
#: Activations each block kind may use.
BLOCK_ACTIVATIONS: dict[str, tuple[str, ...]] = {
    "vgg": ACTIVATIONS,
    "basic": ACTIVATIONS,
    "bottleneck": ACTIVATIONS,
    "inverted": ("relu6", "relu"),
    "mbconv": ("swish", "hard_swish"),
    "dense": ACTIVATIONS,
}
KERNELS: tuple[int, ...] = (3, 5)
DILATIONS: tuple[int, ...] = (1, 2)
EXPANDS: dict[str, tuple[int, ...]] = {
    "bottleneck": (2, 4),
    "inverted": (1, 3, 4, 6),
    "mbconv": (1, 3, 4, 6),
}
GROWTHS: tuple[int, ...] = (8, 12, 16, 24)
MAX_STAGES = 6
MAX_WIDTH = 512
MAX_DEPTH = 8


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def se_channels(channels: int) -> int:
    """Inner channels of a squeeze-and-excitation gate on `channels` channels."""
    return max(8, channels // 4)


def stem_activation(spec: Mapping[str, Any]) -> str:
    """The stem uses the activation of the first stage."""
    return spec["stages"][0]["activation"]


# --- sampling -----------------------------------------------------------------


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
        for key in ("num_stages", "depth"):
            low_high = getattr(self, key)
            if (
                not isinstance(low_high, tuple)
                or len(low_high) != 2
                or not all(_is_int(v) and v >= 1 for v in low_high)
                or low_high[0] > low_high[1]
            ):
                raise ValueError(
                    f"`{key}` must be a (min, max) tuple of positive ints with min <= max. "
                    f"Received: {key}={low_high!r}"
                )
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
                or not all(_is_int(v) and low <= v <= MAX_WIDTH for v in values)
            ):
                raise ValueError(
                    f"`{key}` must be a non-empty tuple of ints in [{low}, {MAX_WIDTH}]. "
                    f"Received: {key}={values!r}"
                )
        if not _is_int(self.max_width) or not 1 <= self.max_width <= MAX_WIDTH:
            raise ValueError(
                f"`max_width` must be an int in [1, {MAX_WIDTH}]. "
                f"Received: max_width={self.max_width!r}"
            )
        if not self.blocks or any(block not in BLOCKS for block in self.blocks):
            raise ValueError(
                f"`blocks` must be a non-empty subset of {BLOCKS}. Received: blocks={self.blocks!r}"
            )
        for key in ("mixed_prob", "downsample_prob", "bn_prob"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"`{key}` must be in [0, 1]. Received: {key}={value!r}")
        for key in ("max_macs", "max_params"):
            value = getattr(self, key)
            if value is not None and (not _is_int(value) or value < 0):
                raise ValueError(
                    f"`{key}` must be None or a non-negative int. Received: {key}={value!r}"
                )


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


# --- validation -----------------------------------------------------------------


def _check(condition: bool, key: str, expected: str, value: Any) -> None:
    if not condition:
        raise ValueError(f"`{key}` must be {expected}. Received: {key}={value!r}")


def _check_keys(obj: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [key for key in keys if key not in obj]
    if missing:
        raise ValueError(f"`{where}` is missing the key(s) {missing}. Received: {where}={obj!r}")
    unknown = sorted(str(key) for key in obj if key not in keys)
    if unknown:
        raise ValueError(
            f"`{where}` has unknown key(s) {unknown}; allowed keys are {list(keys)}. "
            f"Received: {where}={obj!r}"
        )


def _validate_stage(stage: Any, key: str) -> None:
    if not isinstance(stage, Mapping):
        raise ValueError(f"`{key}` must be a dict. Received: {key}={stage!r}")
    block = stage.get("block")
    _check(isinstance(block, str) and block in BLOCKS, f"{key}.block", f"one of {BLOCKS}", block)
    _check_keys(stage, STAGE_KEYS + BLOCK_KEYS[block], key)
    _check(
        _is_int(stage["width"]) and 1 <= stage["width"] <= MAX_WIDTH,
        f"{key}.width",
        f"an int in [1, {MAX_WIDTH}]",
        stage["width"],
    )
    _check(
        _is_int(stage["depth"]) and 1 <= stage["depth"] <= MAX_DEPTH,
        f"{key}.depth",
        f"an int in [1, {MAX_DEPTH}]",
        stage["depth"],
    )
    _check(
        _is_int(stage["stride"]) and stage["stride"] in (1, 2),
        f"{key}.stride",
        "1 or 2",
        stage["stride"],
    )
    allowed = BLOCK_ACTIVATIONS[block]
    _check(
        stage["activation"] in allowed,
        f"{key}.activation",
        f"one of {allowed} for {block!r} blocks",
        stage["activation"],
    )
    _check(
        _is_int(stage["kernel"]) and stage["kernel"] in KERNELS,
        f"{key}.kernel",
        f"one of {KERNELS}",
        stage["kernel"],
    )
    if "dilation" in stage:
        _check(
            _is_int(stage["dilation"]) and stage["dilation"] in DILATIONS,
            f"{key}.dilation",
            f"one of {DILATIONS}",
            stage["dilation"],
        )
    for flag in ("separable", "se"):
        if flag in stage:
            _check(isinstance(stage[flag], bool), f"{key}.{flag}", "a bool", stage[flag])
    if "expand" in stage:
        allowed_expand = EXPANDS[block]
        _check(
            _is_int(stage["expand"]) and stage["expand"] in allowed_expand,
            f"{key}.expand",
            f"one of {allowed_expand} for {block!r} blocks",
            stage["expand"],
        )
        if block == "bottleneck":
            _check(
                stage["width"] % stage["expand"] == 0,
                f"{key}.width",
                f"a multiple of expand={stage['expand']}",
                stage["width"],
            )
    if "growth" in stage:
        _check(
            _is_int(stage["growth"]) and 1 <= stage["growth"] <= MAX_WIDTH,
            f"{key}.growth",
            f"an int in [1, {MAX_WIDTH}]",
            stage["growth"],
        )


def validate_spec(spec: Mapping[str, Any]) -> None:
    """Checks a spec with ``"family": "blocks"`` (see the module docstring).

    Raises:
        ValueError: naming the first bad key, e.g. ``` `stages[0].block` must
            be one of (...). Received: stages[0].block='vit'```.
    """
    _check_keys(spec, SPEC_KEYS, "spec")
    version = spec["version"]
    _check(_is_int(version) and version == BLOCKS_VERSION, "version", str(BLOCKS_VERSION), version)
    _check(spec["family"] == FAMILY, "family", repr(FAMILY), spec["family"])
    _check(
        _is_int(spec["stem"]) and 1 <= spec["stem"] <= MAX_WIDTH,
        "stem",
        f"an int in [1, {MAX_WIDTH}]",
        spec["stem"],
    )
    _check(isinstance(spec["bn"], bool), "bn", "a bool", spec["bn"])
    _check(
        _is_int(spec["head"]) and 0 <= spec["head"] <= MAX_WIDTH,
        "head",
        f"an int in [0, {MAX_WIDTH}] (0: no head conv)",
        spec["head"],
    )
    stages = spec["stages"]
    _check(
        isinstance(stages, list | tuple) and 1 <= len(stages) <= MAX_STAGES,
        "stages",
        f"a list of 1 to {MAX_STAGES} stage dicts",
        stages,
    )
    for index, stage in enumerate(stages):
        _validate_stage(stage, f"stages[{index}]")


# --- cost -------------------------------------------------------------------------


class _Counter:
    """Multiply-adds and trainable parameters, layer by layer (mirrors the builder)."""

    def __init__(self, bn: bool) -> None:
        self.bn = bn
        self.macs = 0
        self.params = 0

    def conv(self, pixels: int, k: int, c_in: int, c_out: int, *, bias: bool | None = None) -> None:
        self.macs += pixels * k * k * c_in * c_out
        self.params += k * k * c_in * c_out + (c_out if self._bias(bias) else 0)
        self.norm(c_out, bias)

    def depthwise(self, pixels: int, k: int, c: int) -> None:
        self.macs += pixels * k * k * c
        self.params += k * k * c + (0 if self.bn else c)
        self.norm(c, None)

    def separable(self, pixels: int, k: int, c_in: int, c_out: int) -> None:
        self.macs += pixels * (k * k * c_in + c_in * c_out)
        self.params += k * k * c_in + c_in * c_out + (0 if self.bn else c_out)
        self.norm(c_out, None)

    def se(self, c: int) -> None:
        inner = se_channels(c)
        self.macs += 2 * c * inner
        self.params += 2 * c * inner + inner + c

    def _bias(self, bias: bool | None) -> bool:
        return (not self.bn) if bias is None else bias

    def norm(self, c: int, bias: bool | None) -> None:
        if self.bn and bias is None:
            self.params += 2 * c


def _half(size: int) -> int:
    return -(-size // 2)  # "same" padding at stride 2: ceil(size / 2)


def cost(
    spec: Mapping[str, Any],
    *,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
) -> tuple[int, int]:
    """(multiply-adds per image, trainable parameters) of a blocks spec's network.

    Counts what `ghnq_tf.search_space.summary.model_stats` reads off the built
    model (a test checks they agree): multiply-adds of conv and dense layers
    (biases excluded), and every trainable weight (BN moving statistics
    excluded).
    """
    height, width, channels = input_shape
    count = _Counter(spec["bn"])
    c = spec["stem"]
    count.conv(height * width, 3, channels, c)
    for stage in spec["stages"]:
        block, k, c_out = stage["block"], stage["kernel"], stage["width"]
        for index in range(stage["depth"]):
            stride = stage["stride"] if index == 0 else 1
            # Dense stages pool after their transition conv; the others work
            # at the output size (VGG pools first, the rest have strided convs).
            if stride == 2 and block != "dense":
                h, w = _half(height), _half(width)
            else:
                h, w = height, width
            pixels_in, pixels = height * width, h * w
            if block == "vgg":
                conv = count.separable if stage["separable"] else count.conv
                conv(pixels, k, c, c_out)
            elif block == "basic":
                conv = count.separable if stage["separable"] else count.conv
                conv(pixels, k, c, c_out)
                conv(pixels, k, c_out, c_out)
                if stage["se"]:
                    count.se(c_out)
                if stride == 2 or c != c_out:
                    count.conv(pixels, 1, c, c_out)
            elif block == "bottleneck":
                mid = c_out // stage["expand"]
                count.conv(pixels_in, 1, c, mid)
                count.conv(pixels, k, mid, mid)
                count.conv(pixels, 1, mid, c_out)
                if stage["se"]:
                    count.se(c_out)
                if stride == 2 or c != c_out:
                    count.conv(pixels, 1, c, c_out)
            elif block in ("inverted", "mbconv"):
                wide = c * stage["expand"]
                if stage["expand"] != 1:
                    count.conv(pixels_in, 1, c, wide)
                count.depthwise(pixels, k, wide)
                if stage.get("se"):
                    count.se(wide)
                count.conv(pixels, 1, wide, c_out)
            else:  # dense
                if index == 0:
                    count.conv(pixels_in, 1, c, c_out)
                    if stride == 2:
                        h, w = _half(height), _half(width)
                    c = c_out
                pixels = h * w
                growth = stage["growth"]
                count.conv(pixels, 1, c, 4 * growth)
                count.conv(pixels, k, 4 * growth, growth)
                c_out = c + growth
            height, width, c = h, w, c_out
    if spec["head"]:
        count.conv(height * width, 1, c, spec["head"])
        c = spec["head"]
    count.macs += c * num_classes
    count.params += c * num_classes + num_classes
    return count.macs, count.params


__all__ = [
    "ACTIVATIONS",
    "BLOCKS",
    "BLOCK_ACTIVATIONS",
    "BLOCK_KEYS",
    "FAMILY",
    "STAGE_KEYS",
    "BlocksSpace",
    "cost",
    "sample_one",
    "validate_spec",
]
