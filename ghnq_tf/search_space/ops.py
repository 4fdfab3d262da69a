"""Op vocabulary of the search space and the Keras implementation of each op.

The vocabulary is the DARTS one (Liu et al., 2019) as used by DeepNets-1M
(Knyazev et al., 2021), plus the plain convolutions DeepNets-1M adds. Every
parameterized op follows the DARTS ReLU → conv → BatchNorm order; without
batch norm the convolutions carry a bias instead.

Layer names are built from a prefix such as ``cell3.node1.sep_conv_3x3_from1``
and a suffix naming the layer's role (``relu``, ``conv``, ``dwconv``, ``bn``).
Keras accepts ``/`` in layer names, but ``/`` is also TensorFlow's name-scope
separator (weights would be called ``cell3/node1/.../kernel:0``, which cannot
be told apart from nested scopes), so ``.`` separates the parts instead.
"""

from __future__ import annotations

from ghnq_tf._keras import keras, tf

NONE = "none"
SKIP = "skip_connect"

#: Every op of the search space, in a fixed order. ``none`` (no edge) is part
#: of the vocabulary the sampler draws from, but sampled ``none`` edges are
#: dropped, so a spec never contains it.
OPS: tuple[str, ...] = (
    NONE,
    SKIP,
    "max_pool_3x3",
    "avg_pool_3x3",
    "conv_1x1",
    "conv_3x3",
    "conv_5x5",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)

#: The ops a spec may contain (all but ``none``).
EDGE_OPS: tuple[str, ...] = tuple(op for op in OPS if op != NONE)


def _bn(x: tf.Tensor, *, bn: bool, name: str) -> tf.Tensor:
    if not bn:
        return x
    return keras.layers.BatchNormalization(name=f"{name}.bn")(x)


def relu_conv_bn(
    x: tf.Tensor,
    *,
    channels: int,
    kernel_size: int,
    strides: int,
    bn: bool,
    name: str,
) -> tf.Tensor:
    """ReLU → Conv2D (``same`` padding) → BatchNorm, the DARTS ``ReLUConvBN``.

    Args:
        x: input tensor, NHWC.
        channels: output channels.
        kernel_size: square kernel size.
        strides: 1 or 2.
        bn: whether to add the BatchNormalization layer (the conv has a bias
            when it is False).
        name: prefix of the layer names (``{name}.relu``, ``{name}.conv``,
            ``{name}.bn``).

    Returns:
        The output tensor.

    Example:
        >>> x = keras.Input((32, 32, 16))
        >>> relu_conv_bn(x, channels=32, kernel_size=1, strides=2, bn=True, name="p").shape
        TensorShape([None, 16, 16, 32])
    """
    x = keras.layers.ReLU(name=f"{name}.relu")(x)
    x = keras.layers.Conv2D(
        channels,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=not bn,
        name=f"{name}.conv",
    )(x)
    return _bn(x, bn=bn, name=name)


def apply_op(
    op: str,
    x: tf.Tensor,
    *,
    channels: int,
    strides: int,
    bn: bool,
    name: str,
) -> tf.Tensor:
    """Applies one search-space op to `x` and returns its output.

    Every op maps ``channels`` input channels to ``channels`` output channels
    and divides the spatial size by `strides`:

    - ``skip_connect``: identity (no layer) at stride 1; at stride 2 a
      ReLU → 1×1 stride-2 conv → BN (a one-conv factorized reduce).
    - ``max_pool_3x3`` / ``avg_pool_3x3``: a 3×3 pooling layer.
    - ``conv_KxK``: ReLU → Conv2D K×K → BN.
    - ``sep_conv_KxK``: ReLU → SeparableConv2D K×K → BN (applied once, where
      DARTS stacks it twice).
    - ``dil_conv_KxK``: ReLU → DepthwiseConv2D K×K with dilation 2 at stride
      1 → 1×1 Conv2D carrying the stride → BN. Keras forbids a stride above 1
      together with a dilation above 1, so the stride moves to the pointwise
      conv; this subsamples the dilated output, as a stride-2 dilated conv
      with symmetric padding would.

    Args:
        op: one of `EDGE_OPS` (``none`` has no layer; leave the edge out).
        x: input tensor, NHWC, with `channels` channels.
        channels: input and output channels.
        strides: 1 or 2.
        bn: whether BatchNormalization layers are used.
        name: prefix of the layer names, e.g. ``cell3.node1.sep_conv_3x3_from1``.

    Returns:
        The output tensor.

    Raises:
        ValueError: for an unknown op or a stride other than 1 or 2.

    Example:
        >>> x = keras.Input((32, 32, 16))
        >>> apply_op("dil_conv_3x3", x, channels=16, strides=2, bn=True, name="e").shape
        TensorShape([None, 16, 16, 16])
    """
    if strides not in (1, 2):
        raise ValueError(f"`strides` must be 1 or 2. Received: strides={strides!r}")
    if op == SKIP:
        if strides == 1:
            return x
        return relu_conv_bn(x, channels=channels, kernel_size=1, strides=2, bn=bn, name=name)
    if op in ("max_pool_3x3", "avg_pool_3x3"):
        pool = keras.layers.MaxPooling2D if op.startswith("max") else keras.layers.AveragePooling2D
        return pool(pool_size=3, strides=strides, padding="same", name=name)(x)
    if op not in EDGE_OPS:
        raise ValueError(f"`op` must be one of {EDGE_OPS}. Received: op={op!r}")
    kind, size = op.rsplit("_", 1)
    kernel_size = int(size.split("x")[0])
    if kind == "conv":
        return relu_conv_bn(
            x, channels=channels, kernel_size=kernel_size, strides=strides, bn=bn, name=name
        )
    x = keras.layers.ReLU(name=f"{name}.relu")(x)
    if kind == "sep_conv":
        x = keras.layers.SeparableConv2D(
            channels,
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=not bn,
            name=f"{name}.conv",
        )(x)
    else:  # dil_conv
        x = keras.layers.DepthwiseConv2D(
            kernel_size,
            dilation_rate=2,
            padding="same",
            use_bias=False,
            name=f"{name}.dwconv",
        )(x)
        x = keras.layers.Conv2D(
            channels,
            1,
            strides=strides,
            padding="same",
            use_bias=not bn,
            name=f"{name}.conv",
        )(x)
    return _bn(x, bn=bn, name=name)


__all__ = ["OPS", "EDGE_OPS", "NONE", "SKIP", "apply_op", "relu_conv_bn"]
