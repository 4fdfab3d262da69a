"""Multiply-adds and parameters of a block-family spec, without building it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ghnq_tf.search_space.blocks import se_channels


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


__all__ = ["cost"]
