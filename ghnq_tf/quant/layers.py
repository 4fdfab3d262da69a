"""Which Keras layers `quantize` accepts, and how each one is quantized.

The layer types ghnq_tf supports are one list, `supported_layer_types` (from
`ghnq_tf.graph.layer_rules`, with the one `UnsupportedLayerError`); every one
of them is quantized here, and `quantize` also accepts the few extra types
below (Maximum, Minimum, UpSampling2D, Permute, Identity, ...) that models
quantized without a GHN may hold.

Layers are matched on their exact class (a subclass of, say, Conv2D may compute
something else, so it is reported as unsupported rather than guessed at).

* weighted layers: their weights are fake-quantized at the weight bits;
* output-quantized layers: their output is fake-quantized at the activation
  bits (tfmot's own choice for ReLU/Add/Concatenate/pooling, and ours for
  the layers tfmot's N-bit registry lacks: standalone BatchNormalization,
  Subtract, Multiply, Average, Rescaling, Normalization, TFOpLambda, ...);
* pass-through layers (Dropout, padding, reshapes, max-pooling): nothing to
  quantize, the value grid of their input is kept.

Example:
    check_supported(keras.applications.MobileNetV2(weights=None))  # no error
"""

from __future__ import annotations

from typing import Any

from ghnq_tf._compat.tf_keras import is_graph_network
from ghnq_tf._keras import keras
from ghnq_tf.graph.layer_rules import UnsupportedLayerError, supported_layer_types

L = keras.layers

WEIGHTED = (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D, L.Dense)

# Layers tfmot's DefaultNBitQuantizeRegistry quantizes itself.
TFMOT_NATIVE = (
    L.Conv2D,
    L.DepthwiseConv2D,
    L.Dense,
    L.ReLU,
    L.LeakyReLU,
    L.Softmax,
    L.Add,
    L.Concatenate,
    L.AveragePooling2D,
    L.GlobalAveragePooling2D,
    L.MaxPooling2D,
    L.GlobalMaxPooling2D,
    L.UpSampling2D,
    L.Dropout,
    L.SpatialDropout2D,
    L.ZeroPadding2D,
    L.Cropping2D,
    L.Reshape,
    L.Flatten,
    L.Permute,
    L.Activation,
)

# Layers we give an output quantizer (`OutputQuantizeConfig`).
OUTPUT_QUANTIZED = (
    L.BatchNormalization,
    L.Subtract,
    L.Multiply,
    L.Average,
    L.Maximum,
    L.Minimum,
    L.Rescaling,
    L.Normalization,
    L.ELU,
)

# Layers with nothing to quantize that tfmot's registry does not list.
PASS_THROUGH = (L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.Identity)

# Element-wise TFOpLambda symbols (`x + 3.`, `x * (1 / 6)` in hard-swish).
TF_OP_SYMBOLS = frozenset(
    {
        "__operators__.add",
        "math.add",
        "math.subtract",
        "math.multiply",
        "math.truediv",
        "math.maximum",
        "math.minimum",
        "nn.relu",
        "nn.relu6",
        "nn.silu",
        "math.sigmoid",
        "math.tanh",
    }
)

# Activations a weighted layer may carry in its `activation` argument
# (what tfmot's QuantizeAwareActivation handles).
# (NoOpActivation is what tfmot's BatchNorm-fusion transforms put on a conv.)
LAYER_ACTIVATIONS = frozenset(
    {"linear", "relu", "swish", "sigmoid", "tanh", "softmax", "gelu", "NoOpActivation"}
)

# Activations an `Activation` layer may hold; tfmot quantizes relu, relu6 and
# swish itself, we add an output quantizer to the others that are not
# fixed-range (sigmoid, tanh, softmax and linear get none, as in tfmot).
TFMOT_ACTIVATIONS = frozenset({"relu", "relu6", "swish", "linear", "softmax", "sigmoid", "tanh"})
EXTRA_ACTIVATIONS = frozenset({"elu", "gelu", "hard_sigmoid", "leaky_relu", "selu", "softplus"})

_ALL_TYPES = WEIGHTED + TFMOT_NATIVE + OUTPUT_QUANTIZED + PASS_THROUGH


def activation_name(activation: Any) -> str:
    """The name of a Keras activation function or object."""
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", type(activation).__name__)


def tf_op_symbol(layer: Any) -> str:
    """The TF symbol a TFOpLambda layer calls (e.g. "math.multiply")."""
    return str(getattr(layer, "symbol", "") or layer.get_config().get("function", ""))


def is_tf_op_lambda(layer: Any) -> bool:
    """True for TFOpLambda layers and the `ElementwiseOp` standing in for them."""
    return type(layer).__name__ in ("TFOpLambda", "ElementwiseOp")


def unsupported_reason(layer: Any) -> str | None:
    """Why `layer` cannot be quantized, or None when it can."""
    cls = type(layer)
    if isinstance(layer, L.InputLayer):
        return None
    if is_tf_op_lambda(layer):
        symbol = tf_op_symbol(layer)
        if symbol in TF_OP_SYMBOLS:
            return None
        return f"TFOpLambda calling `tf.{symbol}` is not an element-wise op ghnq_tf quantizes"
    if cls not in _ALL_TYPES:
        return f"{cls.__name__} is not supported"
    if cls is L.Activation:
        name = activation_name(layer.activation)
        if name not in TFMOT_ACTIVATIONS | EXTRA_ACTIVATIONS:
            return f"Activation({name!r}) is not supported"
    elif cls in WEIGHTED:
        name = activation_name(getattr(layer, "activation", None))
        if name not in LAYER_ACTIVATIONS:
            return (
                f"{cls.__name__} with activation={name!r} is not supported; use a separate "
                "Activation/ReLU layer"
            )
        if cls is not L.Dense and getattr(layer, "data_format", "channels_last") != "channels_last":
            return f"{cls.__name__} with data_format={layer.data_format!r} is not supported"
    elif cls is L.BatchNormalization:
        axis = list(layer.axis) if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        spec = getattr(layer, "input_spec", None)
        ndim = getattr(spec, "ndim", None)
        if len(axis) != 1 or axis[0] not in (-1, (ndim - 1) if ndim else -1):
            return f"BatchNormalization over axis={axis!r} is not supported (channels-last only)"
    return None


def check_supported(model: keras.Model) -> None:
    """Raises `UnsupportedLayerError` naming every layer `quantize` cannot handle.

    Nested functional/Sequential models are searched too (their layers are
    named ``outer/inner``); a nested subclassed model is reported as such.

    Args:
        model: a `tf_keras` functional or Sequential model.

    Raises:
        UnsupportedLayerError: listing each offending layer and why.

    Example:
        check_supported(model)  # silent when every layer is supported
    """
    problems: list[str] = []
    _collect(model, (), problems)
    if problems:
        listed = "; ".join(problems)
        raise UnsupportedLayerError(
            f"Cannot quantize model {model.name!r}: {listed}. Supported layers: "
            f"{', '.join(supported_layer_types())}. Received: model={model.name!r}"
        )


def _collect(model: keras.Model, prefix: tuple[str, ...], problems: list[str]) -> None:
    for layer in model.layers:
        path = "/".join((*prefix, layer.name))
        if isinstance(layer, keras.Model):
            if not is_graph_network(layer):
                problems.append(
                    f"nested model {path!r} ({type(layer).__name__}) is not a functional or "
                    "Sequential model, so it cannot be flattened"
                )
            else:
                _collect(layer, (*prefix, layer.name), problems)
            continue
        if isinstance(layer, L.Lambda):
            problems.append(
                f"layer {path!r} is a Lambda layer, whose computation cannot be inspected"
            )
            continue
        reason = unsupported_reason(layer)
        if reason is not None:
            problems.append(f"layer {path!r}: {reason}")
