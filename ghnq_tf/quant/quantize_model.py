"""`quantize`: a Keras model → a tfmot quantize-aware (fake-quant) copy.

Example:
    import ghnq_tf as gq
    qmodel = gq.quantize(model, bits=4)                       # W4A4
    qmodel = gq.quantize(model, bits=(4, 8))                  # W4A8
    qmodel = gq.quantize(model, bits={"default": 4, "conv1": 8})
    qmodel = gq.quantize(model, bits=2, first_last_bits=8)    # common practice
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_optimization as tfmot

from ghnq_tf._compat.tf_keras import is_graph_network
from ghnq_tf._keras import check_tf_keras_model, keras, tf
from ghnq_tf.quant import configs as qconfigs
from ghnq_tf.quant.apply import quantize_all
from ghnq_tf.quant.bits import check_first_last_bits, parse_bits
from ghnq_tf.quant.canonical import build_canonical, make_plan, needs_rebuild, nodes
from ghnq_tf.quant.layers import check_supported
from ghnq_tf.quant.policy import check_policy_names, resolve_policy
from ghnq_tf.quant.schemes import PolicyQuantizeScheme

_tfmot_keras = tfmot.quantization.keras


def quantize_scope() -> Any:
    """`tfmot.quantization.keras.quantize_scope` with ghnq_tf's configs.

    Use it to load a saved quantized model:

    Example:
        with gq.quant.quantize_scope():
            qmodel = keras.models.load_model("q.h5")
    """
    return _tfmot_keras.quantize_scope(qconfigs.custom_objects())


def _check_model_kind(model: keras.Model) -> None:
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} is not built: call it on an input or give its first "
            f"layer an input shape before quantizing. Received: model={model.name!r}"
        )
    if not is_graph_network(model):
        raise ValueError(
            f"Model {model.name!r} is a subclassed model ({type(model).__name__}); tfmot "
            "quantizes functional and Sequential models only. Received: "
            f"model={model.name!r}"
        )


def quantize(
    model: keras.Model, *, bits: Any = 8, first_last_bits: int | None = None
) -> keras.Model:
    """Returns a tfmot quantize-aware copy of `model` (the input is left untouched).

    Weights and activations are fake-quantized with tfmot's N-bit machinery
    (`DefaultNBitQuantizeScheme` layout: per-channel symmetric weights,
    asymmetric per-tensor activations with moving-average ranges).
    BatchNormalization layers are kept (tfmot style): a convolution's kernel is
    fake-quantized before its BatchNormalization and the fake-quant sits after
    BatchNormalization (+ ReLU); BN is folded only at TFLite export. Nested
    models are inlined and SeparableConv2D layers split into depthwise and
    pointwise halves (see `ghnq_tf.quant.canonical`).

    Args:
        model: a built functional or Sequential `tf_keras` model.
        bits: an int in 2..8 (weights and activations), a
            (weight_bits, activation_bits) pair, or a per-layer policy
            {layer_name: bits or (w, a)} whose "default" key (8 if absent) gives
            the bits of every other layer. Nested layers are named "outer/inner".
        first_last_bits: None (default: every layer follows `bits`) or the bits
            (usually 8) of the first and last weighted layers, their inputs and
            the classifier output; see `ghnq_tf.quant.policy`.

    Returns:
        A new `tf_keras.Model` of tfmot `QuantizeWrapperV2` layers.

    Raises:
        ValueError: for invalid `bits`, unknown policy layer names, or a model
            that is not built / is subclassed (before any work is done).
        UnsupportedLayerError: naming every layer that cannot be quantized.
        TypeError: for a Keras 3 model or a non-model.

    Example:
        qmodel = quantize(keras.applications.MobileNetV2(
            input_shape=(32, 32, 3), weights=None, classes=10), bits=4)
    """
    flat, scheme = _prepare(model, bits=bits, first_last_bits=first_last_bits)
    with quantize_scope():
        qmodel = quantize_all(flat, scheme)
    _check_wiring(flat, qmodel)
    return qmodel


def tfmot_quantize(
    model: keras.Model, *, bits: Any = 8, first_last_bits: int | None = None
) -> keras.Model:
    """`quantize` through tfmot's public `quantize_annotate_model` + `quantize_apply`.

    The reference `quantize` is tested against (same model, variables,
    outputs and TFLite bytes) and `benchmarks/predict_speed.py` times: tfmot
    clones the model three more times on this path (see
    `ghnq_tf.quant.apply`). Same arguments and result as `quantize`.

    Example:
        qmodel = tfmot_quantize(model, bits=4)
    """
    flat, scheme = _prepare(model, bits=bits, first_last_bits=first_last_bits)
    with quantize_scope():
        annotated = _tfmot_keras.quantize_annotate_model(flat)
        qmodel = _tfmot_keras.quantize_apply(annotated, scheme=scheme)
    _check_wiring(flat, qmodel)
    return qmodel


def _prepare(
    model: keras.Model, *, bits: Any, first_last_bits: int | None
) -> tuple[keras.Model, PolicyQuantizeScheme]:
    """Checks the arguments; returns the flat model tfmot quantizes and its scheme."""
    model = check_tf_keras_model(model)
    spec = parse_bits(bits)
    first_last_bits = check_first_last_bits(first_last_bits)
    _check_model_kind(model)
    check_supported(model)
    plan = make_plan(model)
    check_policy_names(spec, plan, model, bits=bits)

    flat = build_canonical(model)[0] if needs_rebuild(model) else model
    policy = resolve_policy(flat, plan, spec, first_last_bits=first_last_bits, model=model)
    return flat, PolicyQuantizeScheme(policy)


def _is_quantize_layer(layer: Any) -> bool:
    return type(layer).__name__ == "QuantizeLayer"  # tfmot's model-input quantizer


def _source_name(layer: Any) -> str:
    """The name `layer` had in the model tfmot quantized."""
    if isinstance(layer, _tfmot_keras.QuantizeWrapper):
        return layer.layer.name
    if _is_quantize_layer(layer):
        return _source_name(layer.inbound_nodes[0].inbound_layers)
    return layer.name


def _wiring(model: keras.Model) -> dict[str, list[list[str]]]:
    """Layer name → the input layer names of each of its calls in `model`.

    Only the calls made in `model` count (a layer may also have been called
    in another model).
    """
    wiring: dict[str, list[list[str]]] = {}
    for node in nodes(model):
        if isinstance(node.layer, keras.layers.InputLayer) or _is_quantize_layer(node.layer):
            continue
        sources = [_source_name(src) for src in tf.nest.flatten(node.inbound_layers)]
        wiring.setdefault(_source_name(node.layer), []).append(sources)
    return {name: sorted(calls) for name, calls in wiring.items()}


def rewired_layers(
    flat: keras.Model, transformed: keras.Model
) -> dict[str, tuple[list[list[str]], list[list[str]]]]:
    """Layers tfmot connected to other inputs than `flat` does.

    tfmot's graph transforms rewire the layers they match by name; a wrong
    rewiring can keep every shape (two inputs of a Concatenate swapped) and
    would silently compute another function.

    Args:
        flat: the model handed to tfmot.
        transformed: tfmot's output (a layout-transformed or quantized model).

    Returns:
        layer name → (its inputs in `transformed`, its inputs in `flat`).
    """
    got = _wiring(transformed)
    return {
        name: (got[name], want)
        for name, want in _wiring(flat).items()
        if name in got and got[name] != want
    }


def _check_wiring(flat: keras.Model, qmodel: keras.Model) -> None:
    """Raises if tfmot rewired any layer of `flat` (see `rewired_layers`)."""
    for name, (got, want) in rewired_layers(flat, qmodel).items():
        raise RuntimeError(
            f"tfmot rewired layer {name!r} while quantizing: its inputs are "
            f"{got} instead of {want}. Please report this model to ghnq_tf."
        )
