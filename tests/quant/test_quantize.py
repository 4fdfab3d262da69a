"""`quantize`: every supported layer type, policies, errors, input left untouched."""

import importlib

import numpy as np
import pytest
from quant_models import (
    conv_bn_model,
    count_kernels,
    kernel_sites,
    merges_model,
    nested_model,
    pass_through_model,
    repeated_input_model,
    weights_of,
)

from ghnq_tf._keras import keras, tf
from ghnq_tf.quant import (
    UnsupportedLayerError,
    calibrate,
    quantize,
    quantizer_sites,
    target_variables,
)
from ghnq_tf.quant.canonical import layer_key, walk_layers


def model_weights(model):
    for path, layer in walk_layers(model):
        for attr in ("moving_mean", "moving_variance"):
            if hasattr(layer, attr):
                yield (layer_key(path), attr), getattr(layer, attr)


L = keras.layers
BUILDERS = {
    "conv_bn": conv_bn_model,
    "merges": merges_model,
    "pass_through": pass_through_model,
    "nested": nested_model,
    "repeated_input": repeated_input_model,
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_layer_type_quantizes(name, images):
    model = BUILDERS[name]()
    config, weights = model.get_config(), weights_of(model)
    qmodel = quantize(model, bits=4)

    # The input model is left untouched.
    assert model.get_config() == config
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(weights, model.weights, strict=True))
    assert not any("quant" in type(layer).__name__.lower() for layer in model.layers)

    # Every kernel is fake-quantized at 4 bits, and so is every quantizer.
    assert len(kernel_sites(qmodel)) == count_kernels(model)
    assert {site.num_bits for site in quantizer_sites(qmodel)} == {4}
    for training in (False, True):
        out = qmodel(images[:4], training=training)
        assert out.shape == (4, 10)
        assert np.all(np.isfinite(out.numpy()))


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_8_bit_model_is_close_to_float(name, images):
    # Per-image contrast, so that deep features (and BN variances) vary.
    images = images * np.random.default_rng(1).uniform(0.1, 1.0, (len(images), 1, 1, 1))
    images = (images * (255.0 if name == "pass_through" else 1.0)).astype("float32")  # raw pixels
    model = BUILDERS[name]()
    qmodel = calibrate(quantize(model, bits=8), images, steps=2, batch_size=64)
    # Give the float model the calibrated BatchNorm statistics.
    for (key, attr), var in target_variables(qmodel, model, include_non_trainable=True).items():
        if attr.startswith("moving_"):
            dict(model_weights(model))[key, attr].assign(var)
    expected = model(images[:16], training=False).numpy()
    got = qmodel(images[:16], training=False).numpy()
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() < 0.1 * scale


def test_tfmot_rewiring_is_an_error_not_a_silent_change(monkeypatch):
    # Without the Identity on the repeated input, tfmot's ConcatTransform rewires
    # `cat` to [conv_a, conv_b]: with no weight after it, the shapes would change
    # silently (16 channels instead of 24).
    inputs = keras.Input((8, 8, 3))
    a = L.Conv2D(8, 1, name="a")(inputs)
    b = L.Conv2D(8, 1, name="b")(inputs)
    model = keras.Model(inputs, L.Concatenate(name="cat")([a, a, b]))
    assert quantize(model, bits=8).output_shape == (None, 8, 8, 24)
    quantize_module = importlib.import_module("ghnq_tf.quant.quantize_model")
    monkeypatch.setattr(quantize_module, "needs_rebuild", lambda model: False)
    with pytest.raises(RuntimeError, match=r"rewired layer 'cat'.*\['a', 'b'\]"):
        quantize(model, bits=8)


def test_layer_also_called_in_another_model_quantizes(images):
    # The wiring check only counts the calls made in the quantized model.
    conv, head = L.Conv2D(4, 3, name="shared_conv"), L.GlobalAveragePooling2D(name="gap")
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, head(conv(inputs)))
    other = keras.Input((8, 8, 3))
    keras.Model(other, conv(other))
    assert len(conv.inbound_nodes) == 2
    assert quantize(model, bits=8)(images[:2]).shape == (2, 4)


def test_batch_norm_is_kept_after_conv(model):
    qmodel = quantize(model, bits=4)
    inner = {getattr(layer, "layer", layer).name: layer for layer in qmodel.layers}
    assert isinstance(inner["bn1"].layer, L.BatchNormalization)
    assert isinstance(inner["conv1"].layer, L.Conv2D)
    # The conv output is not fake-quantized before BN; the ReLU after BN is.
    kinds = {(s.layer.name, s.kind) for s in quantizer_sites(qmodel)}
    assert ("quant_conv1", "weight") in kinds
    assert not any(name == "quant_conv1" and kind != "weight" for name, kind in kinds)
    assert not any(name == "quant_bn1" for name, _ in kinds)
    assert ("quant_relu1", "output") in kinds


def test_conv_followed_by_relu_keeps_quantized_kernel():
    # tfmot's own N-bit transform leaves this kernel in float.
    inputs = keras.Input((8, 8, 3))
    x = L.ReLU()(L.Conv2D(4, 3, name="conv")(inputs))
    qmodel = quantize(keras.Model(inputs, L.Dense(2, name="fc")(L.Flatten()(x))), bits=4)
    assert {s.layer.name for s in kernel_sites(qmodel)} == {"quant_conv", "quant_fc"}


@pytest.mark.parametrize(
    ("bits", "expected"),
    [(4, (4, 4)), ((2, 8), (2, 8)), ({"default": (3, 5)}, (3, 5))],
)
def test_uniform_bits(model, bits, expected):
    qmodel = quantize(model, bits=bits)
    for site in quantizer_sites(qmodel):
        assert site.num_bits == (expected[0] if site.kind == "weight" else expected[1])


def _bits_by_layer(qmodel):
    result = {}
    for site in quantizer_sites(qmodel):
        name = getattr(site.layer, "layer", site.layer).name
        result.setdefault(name, {})[site.kind] = site.num_bits
    return result


def test_per_layer_policy(model):
    qmodel = quantize(model, bits={"default": 4, "conv1": 8, "sep": (2, 6), "relu6": (4, 3)})
    bits = _bits_by_layer(qmodel)
    assert bits["conv1"]["weight"] == 8
    assert bits["dw"]["weight"] == 4
    assert bits["sep_depthwise"]["weight"] == 2
    assert bits["sep_pointwise"]["weight"] == 2
    assert bits["relu6"]["output"] == 3
    assert bits["relu1"]["output"] == 4


def test_first_last_bits(model):
    qmodel = quantize(model, bits=2, first_last_bits=8)
    bits = _bits_by_layer(qmodel)
    assert bits["conv1"] == {"weight": 8}
    assert bits["logits"] == {"weight": 8, "activation": 8}
    assert bits["gap"]["output"] == 8  # the classifier's input
    assert [s.num_bits for s in quantizer_sites(qmodel) if s.kind == "input"] == [8]
    assert bits["dw"]["weight"] == 2 and bits["relu1"]["output"] == 2
    assert bits["dilated"]["weight"] == 2


def test_nested_model_is_flattened_with_path_names():
    model = nested_model()
    qmodel = quantize(model, bits={"default": 4, "stem/conv": 8, "block/conv": 2})
    bits = _bits_by_layer(qmodel)
    assert bits["stem.conv"]["weight"] == 8
    assert bits["block.conv_depthwise"]["weight"] == 2
    assert bits["block.conv_pointwise"]["weight"] == 2
    assert bits["logits"]["weight"] == 4


def test_unknown_policy_name(model):
    with pytest.raises(ValueError) as err:
        quantize(model, bits={"default": 4, "conv_1": 8})
    message = str(err.value)
    assert message.startswith("`bits` must be an int in 2..8")
    assert "Received: bits={'default': 4, 'conv_1': 8}" in message
    assert "unknown layer name(s) in model 'conv_bn': 'conv_1' (did you mean 'conv1'?)" in message


def test_invalid_bits_error(model):
    with pytest.raises(ValueError) as err:
        quantize(model, bits=9)
    assert str(err.value).endswith("Received: bits=9")


def _model_with(layer, shape=(8, 8, 3)):
    inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


class MyLayer(L.Layer):
    def call(self, x):
        return x * 2.0


@pytest.mark.parametrize(
    ("layer", "shape", "match"),
    [
        (L.LSTM(4, name="lstm"), (8, 3), r"layer 'lstm': LSTM is not supported"),
        (MyLayer(name="mine"), (8, 8, 3), r"layer 'mine': MyLayer is not supported"),
        (L.Lambda(lambda x: x, name="lam"), (8, 8, 3), r"'lam' is a Lambda layer"),
        (L.Conv2D(2, 3, activation="elu", name="c"), (8, 8, 3), r"activation='elu'"),
    ],
)
def test_unsupported_layers(layer, shape, match):
    with pytest.raises(UnsupportedLayerError, match=match):
        quantize(_model_with(layer, shape), bits=4)


def test_unsupported_tf_op():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, tf.reduce_sum(inputs, axis=-1))
    with pytest.raises(UnsupportedLayerError, match="reduce_sum"):
        quantize(model, bits=4)


def test_model_kind_errors():
    with pytest.raises(ValueError, match="not built"):
        quantize(keras.Sequential([L.Dense(2)]), bits=4)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="subclassed"):
        quantize(sub, bits=4)
    with pytest.raises(TypeError, match="tf_keras.Model"):
        quantize("not a model", bits=4)
