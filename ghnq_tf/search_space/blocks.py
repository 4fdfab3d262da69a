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

This module holds the family's vocabulary and validates specs; no module of
the family needs Keras except `ghnq_tf.search_space.blocks_builder`, which
makes the Keras model. `blocks_sampling` draws specs and `blocks_cost`
counts their multiply-adds and parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ghnq_tf.search_space._checks import is_int

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


def se_channels(channels: int) -> int:
    """Inner channels of a squeeze-and-excitation gate on `channels` channels."""
    return max(8, channels // 4)


def stem_activation(spec: Mapping[str, Any]) -> str:
    """The stem uses the activation of the first stage."""
    return spec["stages"][0]["activation"]


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
        is_int(stage["width"]) and 1 <= stage["width"] <= MAX_WIDTH,
        f"{key}.width",
        f"an int in [1, {MAX_WIDTH}]",
        stage["width"],
    )
    _check(
        is_int(stage["depth"]) and 1 <= stage["depth"] <= MAX_DEPTH,
        f"{key}.depth",
        f"an int in [1, {MAX_DEPTH}]",
        stage["depth"],
    )
    _check(
        is_int(stage["stride"]) and stage["stride"] in (1, 2),
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
        is_int(stage["kernel"]) and stage["kernel"] in KERNELS,
        f"{key}.kernel",
        f"one of {KERNELS}",
        stage["kernel"],
    )
    if "dilation" in stage:
        _check(
            is_int(stage["dilation"]) and stage["dilation"] in DILATIONS,
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
            is_int(stage["expand"]) and stage["expand"] in allowed_expand,
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
            is_int(stage["growth"]) and 1 <= stage["growth"] <= MAX_WIDTH,
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
    _check(is_int(version) and version == BLOCKS_VERSION, "version", str(BLOCKS_VERSION), version)
    _check(spec["family"] == FAMILY, "family", repr(FAMILY), spec["family"])
    _check(
        is_int(spec["stem"]) and 1 <= spec["stem"] <= MAX_WIDTH,
        "stem",
        f"an int in [1, {MAX_WIDTH}]",
        spec["stem"],
    )
    _check(isinstance(spec["bn"], bool), "bn", "a bool", spec["bn"])
    _check(
        is_int(spec["head"]) and 0 <= spec["head"] <= MAX_WIDTH,
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


__all__ = [
    "ACTIVATIONS",
    "BLOCKS",
    "BLOCK_ACTIVATIONS",
    "BLOCK_KEYS",
    "FAMILY",
    "SPEC_KEYS",
    "STAGE_KEYS",
    "se_channels",
    "stem_activation",
    "validate_spec",
]
