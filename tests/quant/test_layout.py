"""`apply_n_bit_layout`: tfmot's N-bit layout, with every layer's inputs in call order."""

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
from quant_models import conv_bn_model, merges_model

from ghnq_tf._keras import keras
from ghnq_tf.quant import calibrate, quantize, quantizer_sites, target_variables
from ghnq_tf.quant.layout import apply_n_bit_layout

L = keras.layers
_n_bit = tfmot.quantization.keras.experimental.default_n_bit


def swapped_concat_model() -> keras.Model:
    """tfmot's own layout rewires `cat` to [b, a2]: its Conv2D + BatchNorm
    transform re-appends a2 to the end of the config, and its ConcatTransform
    then takes the inputs in config order."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    a = L.BatchNormalization(name="a2")(L.Conv2D(4, 3, padding="same", name="a1")(inputs))
    c = L.Conv2D(4, 3, padding="same", name="c")(inputs)
    d = L.Conv2D(4, 3, padding="same", name="d")(inputs)
    b = L.Add(name="b")([c, d])
    x = L.Concatenate(name="cat")([a, b])
    x = L.Conv2D(6, 1, name="mix")(x)
    return keras.Model(inputs, L.GlobalAveragePooling2D(name="gap")(x))


def sequential_cnn() -> keras.Model:
    """Conv-BN-ReLU blocks in a `keras.Sequential`: each fused block must stay in place."""
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            L.Conv2D(4, 3, padding="same", use_bias=False, name="c1"),
            L.BatchNormalization(name="bn1"),
            L.ReLU(name="r1"),
            L.Conv2D(4, 5, padding="same", use_bias=False, name="c2"),
            L.BatchNormalization(name="bn2"),
            L.ReLU(name="r2"),
            L.MaxPooling2D(name="pool"),
            L.Conv2D(8, 3, padding="same", use_bias=False, name="c3"),
            L.BatchNormalization(name="bn3"),
            L.ReLU(name="r3"),
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(10, name="logits"),
        ],
        name="sequential_cnn",
    )


def _layout(builder, transform):
    keras.backend.clear_session()  # the same auto-generated names on both sides
    model = builder()
    layer_map = {layer.name: {} for layer in model.layers}
    out, out_map = transform(model, layer_map)
    inbound = {
        layer.name: [src.name for src in _as_list(layer.inbound_nodes[0].inbound_layers)]
        for layer in out.layers
        if layer.inbound_nodes and layer.inbound_nodes[0].inbound_layers
    }
    configs = {name: type(e.get("quantize_config")).__name__ for name, e in out_map.items()}
    return inbound, configs


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _tfmot_layout(model, layer_map):
    return _n_bit.DefaultNBitQuantizeLayoutTransform(4, 4).apply(model, layer_map)


def _our_layout(model, layer_map):
    return apply_n_bit_layout(model, layer_map, w=4, a=4)


@pytest.mark.parametrize("builder", [conv_bn_model, merges_model, sequential_cnn])
def test_same_layout_as_tfmot_where_tfmot_keeps_the_order(builder):
    # Same wiring and the same QuantizeConfig class on every layer.
    assert _layout(builder, _our_layout) == _layout(builder, _tfmot_layout)


def test_concat_keeps_its_input_order():
    ours, our_configs = _layout(swapped_concat_model, _our_layout)
    theirs, their_configs = _layout(swapped_concat_model, _tfmot_layout)
    assert theirs["cat"] == ["b", "a2"]  # tfmot's bug, pinned so a fix upstream shows
    assert ours["cat"] == ["a2", "b"]
    # The concat treatment itself is kept: inputs unquantized, output quantized.
    assert our_configs == their_configs
    assert our_configs["cat"] == "DefaultNBitOutputQuantizeConfig"


def test_quantized_swapped_concat_model_computes_the_float_function(images):
    model = swapped_concat_model()
    qmodel = calibrate(quantize(model, bits=8), images, steps=2, batch_size=64)
    # Give the float model the calibrated BatchNorm statistics.
    bn = model.get_layer("a2")
    for (key, attr), var in target_variables(qmodel, model, include_non_trainable=True).items():
        if key == "a2" and attr.startswith("moving_"):
            getattr(bn, attr).assign(var)
    expected = model(images[:16]).numpy()
    got = qmodel(images[:16], training=False).numpy()
    # With the inputs swapped the error is of the order of the outputs.
    assert np.abs(got - expected).max() < 0.05 * np.abs(expected).max()
    assert {site.layer.name for site in quantizer_sites(qmodel) if site.kind == "output"} >= {
        "quant_cat"
    }


def test_quantized_sequential_cnn_computes_the_float_function(images):
    # Calling the lookup in call order on a Sequential model moved every fused
    # Conv-BN-ReLU block after the layers that follow it (found in session 16).
    model = sequential_cnn()
    qmodel = calibrate(quantize(model, bits=8), images, steps=2, batch_size=64)
    for (key, attr), var in target_variables(qmodel, model, include_non_trainable=True).items():
        if key.startswith("bn") and attr.startswith("moving_"):
            getattr(model.get_layer(key), attr).assign(var)
    expected = model(images[:16]).numpy()
    got = qmodel(images[:16], training=False).numpy()
    assert np.abs(got - expected).max() < 0.05 * np.abs(expected).max()
