"""Builds the Keras model of a blocks spec (see `ghnq_tf.search_space.blocks`).

Only layers that `gq.graph_from_keras` describes and `gq.quantize` quantizes
are used: Conv2D, DepthwiseConv2D, SeparableConv2D, BatchNormalization, ReLU
(``relu6`` is ``ReLU(max_value=6)``), Activation (``swish``, ``sigmoid``),
Rescaling, Add, Multiply, Concatenate, pooling and Dense. Hard-swish is
``Multiply([x, hard_sigmoid(x)])`` with hard_sigmoid = ``Rescaling(offset=3)
→ ReLU(max_value=6) → Rescaling(1/6)``, the layers MobileNetV3 uses.

Layer names (``.`` separates the parts)::

    stem.conv, stem.bn, stem.act
    stage1.pool                                           (vgg at stride 2)
    stage1.block0.conv, .bn, .act                         (vgg)
    stage1.block0.conv1 … conv3, .bn1 …, .act1 …          (basic, bottleneck)
    stage1.block0.expand.conv/.bn/.act, .dw.conv/.bn/.act, .project.conv/.bn
    stage1.block0.se.gap / .reduce / .expand / .gate / .mul
    stage1.block0.proj.conv / .bn, stage1.block0.add, stage1.block0.act
    stage1.transition.conv/.bn/.act/.pool, stage1.block0.concat   (dense)
    head.conv, head.bn, head.act, head.gap, head.dense
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.search_space.blocks import se_channels, stem_activation

L = keras.layers


def hard_sigmoid(x: tf.Tensor, *, name: str) -> tf.Tensor:
    """``ReLU6(x + 3) / 6`` out of Rescaling and ReLU layers."""
    x = L.Rescaling(1.0, offset=3.0, name=f"{name}.shift")(x)
    x = L.ReLU(max_value=6.0, name=f"{name}.relu6")(x)
    return L.Rescaling(1.0 / 6.0, name=f"{name}.scale")(x)


def activation(x: tf.Tensor, kind: str, *, name: str) -> tf.Tensor:
    """``relu``, ``relu6``, ``swish`` or ``hard_swish`` (``x · ReLU6(x + 3) / 6``)."""
    if kind == "relu":
        return L.ReLU(name=name)(x)
    if kind == "relu6":
        return L.ReLU(max_value=6.0, name=name)(x)
    if kind == "swish":
        return L.Activation("swish", name=name)(x)
    if kind == "hard_swish":
        return L.Multiply(name=name)([x, hard_sigmoid(x, name=f"{name}.hsig")])
    raise ValueError(f"Unknown activation {kind!r}.")


class _Layers:
    """Conv / norm helpers sharing the network's batch-norm setting."""

    def __init__(self, bn: bool) -> None:
        self.bn = bn

    def norm(self, x: tf.Tensor, name: str) -> tf.Tensor:
        return L.BatchNormalization(name=name)(x) if self.bn else x

    def conv(
        self,
        x: tf.Tensor,
        channels: int,
        kernel: int,
        *,
        name: str,
        suffix: str = "",
        strides: int = 1,
        dilation: int = 1,
        separable: bool = False,
        act: str | None = None,
    ) -> tf.Tensor:
        """Conv (or separable conv) → BN → activation, named ``{name}.conv{suffix}`` etc."""
        layer = L.SeparableConv2D if separable else L.Conv2D
        x = layer(
            channels,
            kernel,
            strides=strides,
            dilation_rate=dilation if strides == 1 else 1,
            padding="same",
            use_bias=not self.bn,
            name=f"{name}.conv{suffix}",
        )(x)
        x = self.norm(x, f"{name}.bn{suffix}")
        if act is not None:
            x = activation(x, act, name=f"{name}.act{suffix}")
        return x

    def depthwise(self, x: tf.Tensor, kernel: int, strides: int, *, name: str) -> tf.Tensor:
        x = L.DepthwiseConv2D(
            kernel, strides=strides, padding="same", use_bias=not self.bn, name=f"{name}.conv"
        )(x)
        return self.norm(x, f"{name}.bn")


def squeeze_excite(x: tf.Tensor, *, gate: str, name: str) -> tf.Tensor:
    """Global average pool → 1×1 conv + ReLU → 1×1 conv → gate → Multiply with `x`."""
    channels = int(x.shape[-1])
    s = L.GlobalAveragePooling2D(keepdims=True, name=f"{name}.gap")(x)
    s = L.Conv2D(se_channels(channels), 1, name=f"{name}.reduce")(s)
    s = L.ReLU(name=f"{name}.relu")(s)
    s = L.Conv2D(channels, 1, name=f"{name}.expand")(s)
    if gate == "hard_swish":
        s = hard_sigmoid(s, name=f"{name}.gate")
    else:
        s = L.Activation("sigmoid", name=f"{name}.gate")(s)
    return L.Multiply(name=f"{name}.mul")([x, s])


def _residual_block(
    ops: _Layers, x: tf.Tensor, stage: Mapping[str, Any], strides: int, name: str
) -> tf.Tensor:
    block, act, k = stage["block"], stage["activation"], stage["kernel"]
    c_in, c_out = int(x.shape[-1]), stage["width"]
    dilation = stage["dilation"]
    if block == "basic":
        sep = stage["separable"]
        y = ops.conv(
            x, c_out, k, strides=strides, dilation=dilation, separable=sep, act=act,
            name=name, suffix="1",
        )  # fmt: skip
        y = ops.conv(y, c_out, k, dilation=dilation, separable=sep, name=name, suffix="2")
    else:  # bottleneck
        mid = c_out // stage["expand"]
        y = ops.conv(x, mid, 1, act=act, name=name, suffix="1")
        y = ops.conv(y, mid, k, strides=strides, dilation=dilation, act=act, name=name, suffix="2")
        y = ops.conv(y, c_out, 1, name=name, suffix="3")
    if stage["se"]:
        y = squeeze_excite(y, gate=act, name=f"{name}.se")
    shortcut = x
    if strides != 1 or c_in != c_out:
        shortcut = ops.conv(x, c_out, 1, strides=strides, name=f"{name}.proj")
    y = L.Add(name=f"{name}.add")([y, shortcut])
    return activation(y, act, name=f"{name}.act")


def _inverted_block(
    ops: _Layers, x: tf.Tensor, stage: Mapping[str, Any], strides: int, name: str
) -> tf.Tensor:
    act, c_in, c_out = stage["activation"], int(x.shape[-1]), stage["width"]
    wide = c_in * stage["expand"]
    y = x
    if stage["expand"] != 1:
        y = ops.conv(y, wide, 1, act=act, name=f"{name}.expand")
    y = ops.depthwise(y, stage["kernel"], strides, name=f"{name}.dw")
    y = activation(y, act, name=f"{name}.dw.act")
    if stage.get("se"):
        y = squeeze_excite(y, gate=act, name=f"{name}.se")
    y = ops.conv(y, c_out, 1, name=f"{name}.project")  # linear bottleneck
    if strides == 1 and c_in == c_out:
        y = L.Add(name=f"{name}.add")([y, x])
    return y


def _stage(ops: _Layers, x: tf.Tensor, stage: Mapping[str, Any], name: str) -> tf.Tensor:
    block, stride = stage["block"], stage["stride"]
    if block == "vgg":
        if stride == 2:
            x = L.MaxPooling2D(2, padding="same", name=f"{name}.pool")(x)
        for j in range(stage["depth"]):
            x = ops.conv(
                x, stage["width"], stage["kernel"], dilation=stage["dilation"],
                separable=stage["separable"], act=stage["activation"], name=f"{name}.block{j}",
            )  # fmt: skip
        return x
    if block == "dense":
        act, growth = stage["activation"], stage["growth"]
        x = ops.conv(x, stage["width"], 1, act=act, name=f"{name}.transition")
        if stride == 2:
            x = L.AveragePooling2D(2, padding="same", name=f"{name}.transition.pool")(x)
        for j in range(stage["depth"]):
            block_name = f"{name}.block{j}"
            y = ops.conv(x, 4 * growth, 1, act=act, name=block_name, suffix="1")
            y = ops.conv(y, growth, stage["kernel"], act=act, name=block_name, suffix="2")
            x = L.Concatenate(name=f"{block_name}.concat")([x, y])
        return x
    make = _inverted_block if block in ("inverted", "mbconv") else _residual_block
    for j in range(stage["depth"]):
        x = make(ops, x, stage, stride if j == 0 else 1, f"{name}.block{j}")
    return x


def build_blocks(
    spec: Mapping[str, Any],
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
    name: str,
) -> keras.Model:
    """The `tf_keras` model of a validated blocks spec (see `search_space.build`)."""
    ops = _Layers(spec["bn"])
    inputs = keras.Input(shape=input_shape, name="input")
    x = ops.conv(inputs, spec["stem"], 3, act=stem_activation(spec), name="stem")
    for index, stage in enumerate(spec["stages"]):
        x = _stage(ops, x, stage, f"stage{index}")
    if spec["head"]:
        x = ops.conv(x, spec["head"], 1, act=spec["stages"][-1]["activation"], name="head")
    x = L.GlobalAveragePooling2D(name="head.gap")(x)
    outputs = L.Dense(num_classes, name="head.dense")(x)
    return keras.Model(inputs, outputs, name=name)


__all__ = ["activation", "build_blocks", "hard_sigmoid", "squeeze_excite"]
