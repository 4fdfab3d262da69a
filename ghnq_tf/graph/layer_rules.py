"""How each supported Keras layer becomes graph nodes.

A rule turns one layer call into either a chain of new nodes (parameter
tensors and parameter-free ops) or a *fold*: the layer only transforms its
single input element-wise or re-lays it out (activation, dropout, padding,
rescaling, reshape, flatten), so it adds no node and is recorded on the node
that produced its input.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.ops import activation_name

L = keras.layers


@dataclasses.dataclass
class NodeSpec:
    """A node to create: op, shape features and the variables it holds."""

    op: str
    shape: tuple[int, int, int, int] = (0, 0, 0, 0)
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    activation: str = "linear"
    params: list[tuple[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Fold:
    """The layer adds no node; `activation` (if any) is recorded instead."""

    activation: str | None = None


def _first(value: Any) -> int:
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)


def _vec_shape(var: tf.Variable) -> tuple[int, int, int, int]:
    return (int(var.shape[0]), 1, 1, 1)


def _with_bias(layer: Any, nodes: list[NodeSpec]) -> list[NodeSpec]:
    """Appends the layer's bias node, then puts the activation on the last node."""
    if getattr(layer, "use_bias", False) and getattr(layer, "bias", None) is not None:
        nodes.append(NodeSpec("bias", _vec_shape(layer.bias), params=[("bias", layer.bias)]))
    act = activation_name(getattr(layer, "activation", "linear"))
    nodes[-1].activation = act
    return nodes


def _conv(layer: Any) -> list[NodeSpec]:
    kh, kw, cin_per_group, cout = (int(d) for d in layer.kernel.shape)
    groups = int(getattr(layer, "groups", 1) or 1)
    node = NodeSpec(
        "conv" if groups == 1 else "group_conv",
        (cout, cin_per_group, kh, kw),
        stride=_first(layer.strides),
        dilation=_first(layer.dilation_rate),
        groups=groups,
        params=[("kernel", layer.kernel)],
    )
    return _with_bias(layer, [node])


def _depthwise_node(layer: Any, kernel: tf.Variable, attr: str) -> NodeSpec:
    kh, kw, cin, mult = (int(d) for d in kernel.shape)
    return NodeSpec(
        "dw_conv",
        (cin * mult, 1, kh, kw),
        stride=_first(layer.strides),
        dilation=_first(layer.dilation_rate),
        groups=cin,
        params=[(attr, kernel)],
    )


def _depthwise(layer: Any) -> list[NodeSpec]:
    return _with_bias(layer, [_depthwise_node(layer, layer.depthwise_kernel, "depthwise_kernel")])


def _separable(layer: Any) -> list[NodeSpec]:
    dw = _depthwise_node(layer, layer.depthwise_kernel, "depthwise_kernel")
    _, _, cin, cout = (int(d) for d in layer.pointwise_kernel.shape)
    pw = NodeSpec("conv", (cout, cin, 1, 1), params=[("pointwise_kernel", layer.pointwise_kernel)])
    return _with_bias(layer, [dw, pw])


def _dense(layer: Any) -> list[NodeSpec]:
    cin, cout = (int(d) for d in layer.kernel.shape)
    return _with_bias(
        layer, [NodeSpec("linear", (cout, cin, 1, 1), params=[("kernel", layer.kernel)])]
    )


def _batch_norm(layer: Any) -> list[NodeSpec]:
    params = [(attr, getattr(layer, attr)) for attr in ("gamma", "beta")]
    params = [(a, v) for a, v in params if v is not None]
    channels = int(layer.moving_mean.shape[0])
    return [NodeSpec("bn", (channels, 1, 1, 1), params=params)]


def _pool(op: str) -> Any:
    def rule(layer: Any) -> list[NodeSpec]:
        size = _first(getattr(layer, "pool_size", 0) or 0)
        return [NodeSpec(op, (0, 0, size, size), stride=_first(getattr(layer, "strides", 1)))]

    return rule


def _merge(op: str) -> Any:
    return lambda layer: [NodeSpec(op)]


def _activation_layer(layer: Any) -> Fold:
    return Fold(activation_name(layer.activation))


def _relu_layer(layer: Any) -> Fold:
    max_value = layer.max_value
    if max_value is not None and float(max_value) == 6.0:
        return Fold("relu6")
    if float(getattr(layer, "negative_slope", 0.0) or 0.0) != 0.0:
        return Fold("leaky_relu")
    return Fold("relu")


def _fold(activation: str | None = None) -> Any:
    return lambda layer: Fold(activation)


# Matched on the exact class: a custom subclass of, say, Conv2D may compute
# something else, so it is reported as unsupported rather than guessed at.
RULES: tuple[tuple[type, Any], ...] = (
    (L.SeparableConv2D, _separable),
    (L.DepthwiseConv2D, _depthwise),
    (L.Conv2D, _conv),
    (L.Dense, _dense),
    (L.BatchNormalization, _batch_norm),
    (L.Add, _merge("sum")),
    (L.Subtract, _merge("sub")),
    (L.Multiply, _merge("mul")),
    (L.Average, _merge("avg")),
    (L.Concatenate, _merge("concat")),
    (L.MaxPooling2D, _pool("max_pool")),
    (L.AveragePooling2D, _pool("avg_pool")),
    (L.GlobalAveragePooling2D, _pool("glob_avg")),
    (L.GlobalMaxPooling2D, _pool("glob_max")),
    (L.Activation, _activation_layer),
    (L.ReLU, _relu_layer),
    (L.LeakyReLU, _fold("leaky_relu")),
    (L.ELU, _fold("elu")),
    (L.Softmax, _fold("softmax")),
    (L.Dropout, _fold()),
    (L.SpatialDropout2D, _fold()),
    (L.GaussianNoise, _fold()),
    (L.GaussianDropout, _fold()),
    (L.AlphaDropout, _fold()),
    (L.ZeroPadding2D, _fold()),
    (L.Cropping2D, _fold()),
    (L.Rescaling, _fold()),
    (L.Normalization, _fold()),
    (L.Reshape, _fold()),
    (L.Flatten, _fold()),
)

_RULES_BY_TYPE = dict(RULES)

# TFOpLambda symbols (`x + 3.`, `x * (1/6)` in MobileNetV3's hard-swish).
# With one tensor argument they fold (element-wise with a constant); with two
# they are a merge node.
_TF_OP_MERGES = {
    "__operators__.add": "sum",
    "math.add": "sum",
    "math.multiply": "mul",
    "math.subtract": "sub",
}
_TF_OP_UNARY = {
    "nn.relu": "relu",
    "nn.relu6": "relu6",
    "math.sigmoid": "sigmoid",
    "nn.silu": "swish",
    "math.tanh": "tanh",
    "math.truediv": None,
}


class UnsupportedLayerError(ValueError):
    """A model holds a layer that ghnq_tf cannot describe as a graph or quantize.

    The one error of both `graph_from_keras` and `quantize` (`gq.UnsupportedLayerError`).
    """


def supported_layer_types() -> list[str]:
    """Names of the Keras layer classes ghnq_tf supports: the one list.

    `graph_from_keras` describes them and `quantize` quantizes them, so
    `gq.predict` takes any model built from them (`quantize` alone also
    accepts a few more, see `ghnq_tf.quant.layers`).
    """
    names = [cls.__name__ for cls, _ in RULES] + ["InputLayer"]
    names.append("TFOpLambda (" + ", ".join(sorted(set(_TF_OP_MERGES) | set(_TF_OP_UNARY))) + ")")
    names.append("nested tf_keras.Model / Sequential")
    return sorted(names)


def rule_for(layer: Any, num_tensor_inputs: int) -> list[NodeSpec] | Fold | None:
    """The nodes (or fold) for one call of `layer`; None when unsupported."""
    if type(layer).__name__ == "TFOpLambda":
        symbol = getattr(layer, "symbol", "")
        if num_tensor_inputs == 2 and symbol in _TF_OP_MERGES:
            return [NodeSpec(_TF_OP_MERGES[symbol])]
        if num_tensor_inputs == 1 and (symbol in _TF_OP_MERGES or symbol in _TF_OP_UNARY):
            return Fold(_TF_OP_UNARY.get(symbol))
        return None
    rule = _RULES_BY_TYPE.get(type(layer))
    return None if rule is None else rule(layer)
