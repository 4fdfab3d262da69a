"""Builds the Keras model of an architecture spec.

Network layout (DARTS-like)::

    input → stem (Conv2D 3×3 → BN) → cell 0 … cell L-1 → ReLU → GlobalAveragePooling2D → Dense

Cell ``i`` reads the outputs of cells ``i-2`` and ``i-1`` (the stem output
stands in for missing ones). Each input is brought to the cell's ``C``
channels by ReLU → 1×1 conv → BN (at stride 2 for the older input when the
previous cell reduced, so both inputs have the same spatial size). Each
intermediate node sums its ops; the cell output concatenates all nodes.
Reduction cells double ``C`` and run the ops that read the cell inputs at
stride 2.

Layer names (``.`` separates the parts; see `ghnq_tf.search_space.ops`)::

    stem.conv, stem.bn
    cell3.pre0.relu, cell3.pre0.conv, cell3.pre0.bn       (also pre1)
    cell3.node1.sep_conv_3x3_from1.relu / .conv / .bn
    cell3.node1.dil_conv_5x5_from2.relu / .dwconv / .conv / .bn
    cell3.node1.max_pool_3x3_from0
    cell3.node1.skip_connect_from0.relu / .conv / .bn     (stride 2 only)
    cell3.node1.sum, cell3.concat
    head.relu, head.gap, head.dense
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.search_space._checks import is_int
from ghnq_tf.search_space.blocks_builder import build_blocks
from ghnq_tf.search_space.ops import apply_op, relu_conv_bn
from ghnq_tf.search_space.spec import spec_hash


def _cell(
    s0: tf.Tensor,
    s1: tf.Tensor,
    *,
    genotype: Sequence[Sequence[Any]],
    channels: int,
    reduction: bool,
    reduce_s0: bool,
    bn: bool,
    name: str,
) -> tf.Tensor:
    used = {source for edges in genotype for _, source in edges}
    states: list[tf.Tensor | None] = [None, None]
    for index, (tensor, strides) in enumerate(((s0, 2 if reduce_s0 else 1), (s1, 1))):
        if index in used:
            states[index] = relu_conv_bn(
                tensor,
                channels=channels,
                kernel_size=1,
                strides=strides,
                bn=bn,
                name=f"{name}.pre{index}",
            )
    for node, edges in enumerate(genotype):
        node_name = f"{name}.node{node}"
        outputs = []
        for op, source in edges:
            strides = 2 if reduction and source < 2 else 1
            outputs.append(
                apply_op(
                    op,
                    states[source],
                    channels=channels,
                    strides=strides,
                    bn=bn,
                    name=f"{node_name}.{op}_from{source}",
                )
            )
        if len(outputs) == 1:
            states.append(outputs[0])
        else:
            states.append(keras.layers.Add(name=f"{node_name}.sum")(outputs))
    if len(states) == 3:  # one node: nothing to concatenate (a 1-input Concatenate
        return states[2]  # does not quantize)
    return keras.layers.Concatenate(axis=-1, name=f"{name}.concat")(states[2:])


def _check_input_shape(input_shape: Any) -> tuple[int, int, int]:
    if (
        not isinstance(input_shape, list | tuple)
        or len(input_shape) != 3
        or not all(is_int(v) and v >= 1 for v in input_shape)
    ):
        raise ValueError(
            "`input_shape` must be a (height, width, channels) tuple of positive ints. "
            f"Received: input_shape={input_shape!r}"
        )
    return tuple(input_shape)


def build(
    spec: Mapping[str, Any],
    *,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    name: str | None = None,
) -> keras.Model:
    """Builds the `tf_keras` functional model of an architecture spec.

    Specs of the block family (``"family": "blocks"``) are built by
    `ghnq_tf.search_space.blocks_builder`; the layout above is the DARTS one.
    The model is built deterministically: the same spec always gives the
    same layers, layer names and weight shapes (the initial weight values
    are random). It outputs logits (no softmax).

    Args:
        spec: an architecture spec (see `ghnq_tf.search_space.spec`).
        input_shape: (height, width, channels) of the images.
        num_classes: number of output logits.
        name: model name; defaults to ``"net_"`` plus the first 12 hex digits
            of `spec_hash(spec)`.

    Returns:
        An uncompiled `tf_keras.Model`.

    Raises:
        ValueError: for an invalid spec, `input_shape` or `num_classes`.

    Example:
        >>> from ghnq_tf import search_space
        >>> spec = search_space.split("val")[0]
        >>> model = search_space.build(spec, input_shape=(32, 32, 3), num_classes=10)
        >>> model.output_shape
        (None, 10)
    """
    key = spec_hash(spec)  # validates
    input_shape = _check_input_shape(input_shape)
    if not is_int(num_classes) or num_classes < 1:
        raise ValueError(
            f"`num_classes` must be a positive int. Received: num_classes={num_classes!r}"
        )
    if name is None:
        name = f"net_{key[:12]}"
    if "family" in spec:
        return build_blocks(spec, input_shape=input_shape, num_classes=num_classes, name=name)
    bn = spec["bn"]
    channels = spec["width"]
    reductions = set(spec["reductions"])

    inputs = keras.Input(shape=input_shape, name="input")
    x = keras.layers.Conv2D(channels, 3, padding="same", use_bias=not bn, name="stem.conv")(inputs)
    if bn:
        x = keras.layers.BatchNormalization(name="stem.bn")(x)
    s0 = s1 = x
    prev_reduction = False
    for i in range(spec["num_cells"]):
        reduction = i in reductions
        if reduction:
            channels *= 2
        out = _cell(
            s0,
            s1,
            genotype=spec["reduce" if reduction else "normal"],
            channels=channels,
            reduction=reduction,
            reduce_s0=prev_reduction,
            bn=bn,
            name=f"cell{i}",
        )
        s0, s1 = s1, out
        prev_reduction = reduction
    x = keras.layers.ReLU(name="head.relu")(s1)
    x = keras.layers.GlobalAveragePooling2D(name="head.gap")(x)
    outputs = keras.layers.Dense(num_classes, name="head.dense")(x)
    return keras.Model(inputs, outputs, name=name)


__all__ = ["build"]
