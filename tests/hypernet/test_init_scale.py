"""Predicted kernels rescaled where normalization divides their scale out."""

import numpy as np
import pytest

import ghnq_tf as gq
from ghnq_tf._keras import keras, tf
from ghnq_tf.hypernet.init_scale import match_init_scale, scale_free_kernels
from ghnq_tf.prediction.predict import predict
from ghnq_tf.quant.variables import target_list

L = keras.layers


def _net():
    x = keras.Input((16, 16, 3))
    h = L.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(x)  # → BN: free
    h = L.ReLU()(L.BatchNormalization(name="stem_bn")(h))
    d = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(h)  # → pw → BN: free
    d = L.Conv2D(8, 1, use_bias=False, name="pw")(d)
    d = L.BatchNormalization(name="pw_bn")(d)
    s = L.SeparableConv2D(8, 3, padding="same", use_bias=False, name="sep")(h)  # → BN: free
    s = L.BatchNormalization(name="sep_bn")(s)
    b = L.Conv2D(8, 1, name="biased")(h)  # a bias: its scale shows
    b = L.BatchNormalization(name="biased_bn")(b)
    r = L.Conv2D(8, 1, use_bias=False, name="to_add")(h)  # summed before any BN
    h = L.Add()([d, s, b, r])
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(x, L.Dense(10, use_bias=False, name="fc")(h))  # the output


def test_only_kernels_normalization_divides_out_are_scale_free():
    assert sorted(scale_free_kernels(_net())) == [("dw",), ("pw",), ("sep",), ("stem",)]


def test_sequential_and_nested_models_are_searched():
    inner = keras.Sequential(
        [L.Conv2D(4, 3, use_bias=False, name="c"), L.BatchNormalization(name="bn")], name="inner"
    )
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, L.Dense(2)(L.Flatten()(inner(x))))
    assert sorted(scale_free_kernels(model)) == [("inner", "c")]


@pytest.fixture(scope="module")
def ghn():
    keras.utils.set_random_seed(0)
    return gq.GHN(hidden=16, num_layers=1, rank=4).build_all()


def _rms(values):
    return float(np.sqrt(np.mean(np.square(values))))


def test_scale_free_kernels_take_the_models_scale_and_others_stay(ghn):
    model = _net()
    graph = gq.graph_from_keras(model)
    raw = ghn.predict_params(graph, bits=4)[0]
    scaled = match_init_scale(model, graph, raw)
    layers = {layer.name: layer for layer in model.layers}
    free = {name for (name,) in scale_free_kernels(model)}
    for ref, before, after in zip(graph.params, raw, scaled, strict=True):
        (name,) = ref.layer
        if name in free and ref.attr.endswith("kernel"):
            target = _rms(getattr(layers[name], ref.attr).numpy())
            assert _rms(after.numpy()) == pytest.approx(target, rel=1e-5)
            ratio = after.numpy() / before.numpy()  # a single positive factor per tensor
            np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-4)
        else:
            np.testing.assert_array_equal(after.numpy(), before.numpy())
    with pytest.raises(ValueError, match="one tensor per graph parameter"):
        match_init_scale(model, graph, raw[:-1])


def test_predict_keeps_the_calibrated_function(ghn):
    """Rescaled or not, the calibrated 8-bit models agree; only the kernels' scale moves."""
    model = _net()
    images = tf.random.stateless_normal([64, 16, 16, 3], seed=[1, 2])
    kwargs = {"bits": 8, "ghn": ghn, "calibration_data": images, "calibration_steps": 2}
    rescaled = predict(model, **kwargs)
    raw = predict(model, match_init_scale=False, **kwargs)
    graph = gq.graph_from_keras(model)
    stem = [p.layer == ("stem",) and p.attr == "kernel" for p in graph.params].index(True)
    moved = [target_list(q, model, graph)[stem].numpy() for q in (rescaled, raw)]
    assert _rms(moved[0]) == pytest.approx(_rms(model.get_layer("stem").kernel.numpy()), rel=1e-5)
    assert abs(_rms(moved[0]) / _rms(moved[1]) - 1) > 0.05  # a real rescale happened
    logits = [q(images, training=False).numpy() for q in (rescaled, raw)]
    # Equal up to rounding: float differences can flip an 8-bit activation
    # level here and there (seen: at most 0.07 of the logits' spread, 4 of
    # 640 logits beyond 0.05), so bound the worst and the typical difference.
    spread = np.std(logits[1])
    difference = np.abs(logits[0] - logits[1])
    assert difference.max() < 0.15 * spread
    assert difference.mean() < 0.02 * spread
    uncalibrated = predict(model, bits=8, ghn=ghn)  # the same check fails without calibration
    assert np.abs(uncalibrated(images, training=False).numpy() - logits[1]).mean() > 0.02 * spread
