"""Multiply-adds of a spec's network, computed from the spec alone (no Keras).

The sampler uses it to keep networks CPU-sized without building them. It
mirrors `ghnq_tf.search_space.builder` layer by layer and counts exactly what
`ghnq_tf.search_space.summary.layer_flops` counts on the built model (a test
checks they agree): multiply-adds of conv and dense layers, biases excluded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ghnq_tf.search_space.blocks_cost import cost as blocks_cost
from ghnq_tf.search_space.ops import SKIP


def _half(size: int) -> int:
    return -(-size // 2)  # "same" padding at stride 2: ceil(size / 2)


def _op_macs(op: str, *, channels: int, pixels_in: int, pixels_out: int, strides: int) -> int:
    if op == SKIP:
        return pixels_out * channels * channels if strides == 2 else 0
    if op.endswith("pool_3x3"):
        return 0
    kind, size = op.rsplit("_", 1)
    k2 = int(size.split("x")[0]) ** 2
    if kind == "conv":
        return pixels_out * k2 * channels * channels
    if kind == "sep_conv":
        return pixels_out * (k2 * channels + channels * channels)
    # dil_conv: depthwise at stride 1, then the strided 1x1 conv.
    return pixels_in * k2 * channels + pixels_out * channels * channels


def macs(
    spec: Mapping[str, Any],
    *,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
) -> int:
    """Multiply-adds of the conv and dense layers of `build(spec)`, per image.

    Works for both families (DARTS cells and blocks).

    Args:
        spec: a valid architecture spec (not re-validated here).
        input_shape: (height, width, channels) of the images.
        num_classes: number of output logits.

    Returns:
        The number of multiply-adds (biases, BatchNorm, pooling excluded).

    Example:
        >>> from ghnq_tf.search_space import sample
        >>> macs(sample(1, seed=0)[0]) > 0
        True
    """
    if "family" in spec:  # the block family
        return blocks_cost(spec, input_shape=input_shape, num_classes=num_classes)[0]
    height, width, in_channels = input_shape
    channels = spec["width"]
    total = height * width * 9 * in_channels * channels  # stem
    # Each state: (channels, height, width); s0, s1 start as the stem output.
    s0 = s1 = (channels, height, width)
    prev_reduction = False
    reductions = set(spec["reductions"])
    num_nodes = spec["num_nodes"]
    for i in range(spec["num_cells"]):
        reduction = i in reductions
        if reduction:
            channels *= 2
        genotype = spec["reduce" if reduction else "normal"]
        used = {source for edges in genotype for _, source in edges}
        _, h, w = s1
        if 0 in used:
            c0, h0, w0 = s0
            if prev_reduction:
                h0, w0 = _half(h0), _half(w0)
            total += h0 * w0 * c0 * channels
        if 1 in used:
            total += h * w * s1[0] * channels
        out_h, out_w = (_half(h), _half(w)) if reduction else (h, w)
        for edges in genotype:
            for op, source in edges:
                strides = 2 if reduction and source < 2 else 1
                pixels_in = h * w if source < 2 else out_h * out_w
                total += _op_macs(
                    op,
                    channels=channels,
                    pixels_in=pixels_in,
                    pixels_out=out_h * out_w,
                    strides=strides,
                )
        s0, s1 = s1, (num_nodes * channels, out_h, out_w)
        prev_reduction = reduction
    return total + s1[0] * num_classes


__all__ = ["macs"]
