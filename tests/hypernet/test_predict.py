"""gq.predict / gq.predict_many: predicted parameters inside quantize-aware models."""

import numpy as np
import pytest

import ghnq_tf as gq
from ghnq_tf._keras import keras, tf
from ghnq_tf.prediction.predict import predict, predict_many
from ghnq_tf.quant.variables import target_list

L = keras.layers


def _net(width=8, classes=10):
    x = keras.Input((16, 16, 3))
    h = L.Conv2D(width, 3, padding="same", use_bias=False)(x)
    h = L.BatchNormalization()(h)
    h = L.ReLU()(h)
    h = L.Add()([h, L.SeparableConv2D(width, 3, padding="same")(h)])
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(x, L.Dense(classes)(h))


@pytest.fixture(scope="module")
def ghn():
    return gq.GHN(hidden=16, num_layers=1, rank=4).build_all()


def _wrapped(qmodel):
    return any(type(layer).__name__ == "QuantizeWrapperV2" for layer in qmodel.layers)


@pytest.mark.parametrize("bits", [2, 4, 8, (4, 8)])
def test_predict_holds_the_ghn_tensors(ghn, bits):
    model = _net()
    before = [w.numpy() for w in model.weights]
    qmodel = predict(model, bits=bits, ghn=ghn, match_init_scale=False)  # the GHN's own scale
    assert _wrapped(qmodel)
    graph = gq.graph_from_keras(model)
    told = bits if isinstance(bits, int) else bits[0]
    expected = ghn.predict_params(graph, bits=told)[0]
    for var, value in zip(target_list(qmodel, model, graph), expected, strict=True):
        np.testing.assert_array_equal(var.numpy(), value.numpy())
        assert np.all(np.isfinite(var.numpy()))
    for weight, value in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(weight.numpy(), value)  # input model untouched


def test_predict_a_sequential_cnn(ghn):
    # Conv-BN-ReLU blocks in a keras.Sequential: the layout keeps them in place.
    images = tf.random.stateless_normal([32, 16, 16, 3], seed=[5, 6])
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            L.Conv2D(8, 3, padding="same", use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.MaxPooling2D(),
            L.Conv2D(16, 3, padding="same", use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.GlobalAveragePooling2D(),
            L.Dense(10),
        ]
    )
    qmodel = predict(
        model, bits=4, ghn=ghn, match_init_scale=False, calibration_data=images, calibration_steps=1
    )
    graph = gq.graph_from_keras(model)
    expected = ghn.predict_params(graph, bits=4)[0]
    for var, value in zip(target_list(qmodel, model, graph), expected, strict=True):
        np.testing.assert_array_equal(var.numpy(), value.numpy())
    assert qmodel(images[:4], training=False).shape == (4, 10)


def test_predict_many_is_one_ghn_call(ghn, monkeypatch):
    calls = []
    original = ghn.predict_params
    monkeypatch.setattr(ghn, "predict_params", lambda *a, **k: calls.append(1) or original(*a, **k))
    timings = {}
    qmodels = predict_many(
        [_net(4), _net(8, classes=3), _net(12)], bits=4, ghn=ghn, timings=timings
    )
    assert len(calls) == 1 and len(qmodels) == 3
    assert qmodels[1].output_shape == (None, 3)
    assert set(timings) == {"graph", "ghn", "quantize", "inject"}


def test_calibration_data_sets_batch_norm_statistics(ghn):
    images = tf.random.stateless_normal([64, 16, 16, 3], seed=[3, 4])
    qmodel = predict(_net(), bits=4, ghn=ghn, calibration_data=images, calibration_steps=2)
    means = [v for v in qmodel.weights if "moving_mean" in v.name]
    assert means and float(tf.reduce_max(tf.abs(means[0]))) > 0
    logits = qmodel(images, training=False)
    assert np.all(np.isfinite(logits.numpy()))


@pytest.mark.parametrize("steps", [2, None])
def test_predict_calibrates_as_gq_calibrate_does(ghn, steps):
    # A few batches run eagerly, unbounded ones traced: either way the model
    # is the one gq.calibrate (traced) gives the same prediction.
    images = tf.random.stateless_normal([64, 16, 16, 3], seed=[5, 6])
    model = _net()
    calibrated = predict(model, bits=4, ghn=ghn, calibration_data=images, calibration_steps=steps)
    reference = gq.calibrate(predict(model, bits=4, ghn=ghn), images, steps=steps)
    for got, want in zip(calibrated.weights, reference.weights, strict=True):
        # BN statistics and quantizer ranges (eager and traced sums differ in the last bits)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_calibration_ranges_reach_the_quantizers(ghn):
    from ghnq_tf.quant import quantizer_sites

    images = tf.random.stateless_normal([64, 16, 16, 3], seed=[3, 4])
    model = _net()
    ranges = {}
    for method in ("minmax", "mse"):
        qmodel = predict(model, bits=2, ghn=ghn, calibration_data=images, calibration_ranges=method)
        sites = [s for s in quantizer_sites(qmodel) if s.kind == "weight"]
        ranges[method] = [float(np.max(s.variables[0]["max_var"].numpy())) for s in sites]
        if method == "minmax":  # tfmot's: the weights' own max |w|
            maxima = [float(np.abs(s.weight.numpy()).max()) for s in sites]
            np.testing.assert_allclose(ranges[method], maxima, rtol=1e-6)
    # At 2 bits least squares never widens a range and clips most well inside.
    ratios = np.array(ranges["mse"]) / np.array(ranges["minmax"])
    assert np.all(ratios <= 1 + 1e-6) and np.median(ratios) < 0.9, ratios


def test_errors_come_before_any_work(ghn):
    with pytest.raises(ValueError, match="`bits` must be an int in 2..8"):
        predict(_net(), bits=9, ghn=ghn)
    with pytest.raises(ValueError, match="Unknown pretrained GHN 'cifar100'.*Available: .*cifar10"):
        predict(_net(), bits=4, ghn="cifar100")
    with pytest.raises(TypeError, match="must be a gq.GHN"):
        predict(_net(), bits=4, ghn=42)
    with pytest.raises(ValueError, match="at least one model"):
        predict_many([], ghn=ghn)
    with pytest.raises(ValueError, match="`ranges` must be one of 'minmax', 'mse'"):
        predict(_net(), bits=4, ghn=ghn, calibration_ranges="l2")


@pytest.mark.parametrize(
    ("bits", "name"),
    [(4, "cifar10"), ((2, 8), "cifar10"), (2, "cifar10_w2a2"), ({"default": 2}, "cifar10_w2a2")],
)
def test_the_default_ghn_is_the_bundled_one_for_the_bits(bits, name):
    model = _net()
    by_default = predict(model, bits=bits)
    bundled = predict(model, bits=bits, ghn=gq.GHN.from_pretrained(name))
    for a, b in zip(by_default.get_weights(), bundled.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_two_bit_default_predicts_other_parameters():
    model = _net()
    w2a2 = predict(model, bits=2).get_weights()
    general = predict(model, bits=2, ghn="cifar10").get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(w2a2, general, strict=True))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_small_application_at_every_bitwidth(ghn, application, bits):
    model = application("MobileNetV3Small")
    qmodel = predict(model, bits=bits, ghn=ghn)
    graph = gq.graph_from_keras(model)
    for var, param in zip(target_list(qmodel, model, graph), graph.params, strict=True):
        assert tuple(var.shape) == param.shape and np.all(np.isfinite(var.numpy()))


@pytest.mark.slow
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_all_ten_applications(ghn, application, bits):
    for name in application.names:
        model = application(name)
        qmodel = predict(model, bits=bits, ghn=ghn)
        graph = gq.graph_from_keras(model)
        for var, param in zip(target_list(qmodel, model, graph), graph.params, strict=True):
            assert tuple(var.shape) == param.shape and np.all(np.isfinite(var.numpy())), name
