"""Noise on the channel copies the decoder tiles into layers wider than its tensor."""

import numpy as np
import pytest

import ghnq_tf as gq
from ghnq_tf._keras import keras
from ghnq_tf.hypernet.tiling import break_tiling, channel_correlation_spread, copies_mask
from ghnq_tf.prediction.predict import predict

L = keras.layers
CHANNELS = 8  # the test GHN's maximal tensor: layers of 12 or 16 channels get tiled


def _net():
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(x)  # 3 -> 16: out tiled
    h = L.ReLU()(L.BatchNormalization(name="stem_bn")(h))
    h = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(h)  # 16 channels
    h = L.Conv2D(12, 1, use_bias=False, name="pw")(h)  # 16 -> 12: both tiled
    h = L.BatchNormalization(name="pw_bn")(h)
    h = L.Conv2D(4, 1, name="narrow")(h)  # 12 -> 4: input tiled
    h = L.GlobalAveragePooling2D()(h)
    h = L.Dense(16, name="hidden")(h)  # 4 -> 16
    return keras.Model(x, L.Dense(20, name="fc")(h))  # the classifier: 16 -> 20, untouched


@pytest.fixture(scope="module")
def ghn():
    keras.utils.set_random_seed(0)
    return gq.GHN(hidden=16, num_layers=1, channels=CHANNELS, kernel_size=3, rank=4).build_all()


@pytest.fixture(scope="module")
def predicted(ghn):
    graph = gq.graph_from_keras(_net())
    return graph, ghn.predict_params(graph, bits=4)[0]


def test_copies_mask_marks_channels_beyond_the_maximal_tensor():
    mask = copies_mask((3, 3, 10, 12), 8)
    assert not mask[:, :, :8, :8].any()
    assert mask[:, :, 8:, :].all() and mask[:, :, :, 8:].all()
    assert not copies_mask((1, 1, 8, 8), 8).any()
    with pytest.raises(ValueError, match="rank >= 2"):
        copies_mask((5,), 8)
    with pytest.raises(ValueError, match="`channels` must be a positive int"):
        copies_mask((3, 3), 0)


def test_correlation_spread_of_identical_and_orthogonal_channels():
    assert channel_correlation_spread(np.ones((3, 3, 4, 1))) == 0.0  # no variance
    tiled = np.tile(np.random.default_rng(0).normal(size=(9, 4)), (1, 2))
    assert channel_correlation_spread(tiled) > 0


def test_the_prediction_is_tiled_and_noise_separates_only_the_copies(predicted):
    graph, raw = predicted
    broken = break_tiling(graph, raw, channels=CHANNELS, beta=0.5, seed=0)
    by_name = {ref.layer[-1] + "/" + ref.attr: i for i, ref in enumerate(graph.params)}
    stem = raw[by_name["stem/kernel"]].numpy()
    np.testing.assert_array_equal(stem[..., 8:], stem[..., :8])  # the decoder tiles
    for ref, before, after in zip(graph.params, raw, broken, strict=True):
        before, after = before.numpy(), np.asarray(after)
        name = ref.layer[-1]
        if name == "fc" or not ref.attr.endswith("kernel"):  # classifier, biases, BN
            np.testing.assert_array_equal(after, before)
            continue
        mask = copies_mask(ref.shape, CHANNELS)
        np.testing.assert_array_equal(after[~mask], before[~mask])  # the maximal tensor stays
        assert mask.any() and (after[mask] != before[mask]).all(), name
    new_stem = np.asarray(broken[by_name["stem/kernel"]])
    assert not np.allclose(new_stem[..., 8:], new_stem[..., :8])


def test_noise_is_seeded_and_scaled_by_beta(predicted):
    graph, raw = predicted
    index = [ref.layer[-1] for ref in graph.params].index("pw")
    mask = copies_mask(graph.params[index].shape, CHANNELS)

    def noise(beta, seed):
        out = break_tiling(graph, raw, channels=CHANNELS, beta=beta, seed=seed)[index]
        return (np.asarray(out) - raw[index].numpy())[mask]

    np.testing.assert_array_equal(noise(0.1, 3), noise(0.1, 3))
    assert not np.array_equal(noise(0.1, 3), noise(0.1, 4))
    np.testing.assert_allclose(noise(0.2, 3), 2 * noise(0.1, 3), rtol=1e-4, atol=1e-7)
    kernel = raw[index].numpy()
    expected = 0.1 * channel_correlation_spread(kernel) * np.sqrt(np.mean(kernel**2))
    assert np.std(noise(0.1, 3)) == pytest.approx(expected, rel=0.25)
    untouched = break_tiling(graph, raw, channels=CHANNELS, beta=0.0)
    assert all(a is b for a, b in zip(untouched, raw, strict=True))


def test_orthogonalize_keeps_scale_and_makes_channels_orthogonal(predicted):
    graph, raw = predicted
    index = [ref.layer[-1] for ref in graph.params].index("pw")
    out = np.asarray(
        break_tiling(graph, raw, channels=CHANNELS, beta=0.0, orthogonalize=True)[index]
    )
    matrix = out.reshape(-1, out.shape[-1])  # [16 in, 12 out]: orthogonal columns
    gram = matrix.T @ matrix
    np.testing.assert_allclose(gram, np.diag(np.diag(gram)), atol=1e-5)
    rms = np.sqrt(np.mean(raw[index].numpy() ** 2))
    assert np.sqrt(np.mean(out**2)) == pytest.approx(rms, rel=1e-4)


def test_argument_errors(predicted, ghn):
    graph, raw = predicted
    for beta in (-0.1, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="`beta` must be a finite number >= 0"):
            break_tiling(graph, raw, channels=CHANNELS, beta=beta)
    with pytest.raises(ValueError, match="one tensor per graph parameter"):
        break_tiling(graph, raw[:-1], channels=CHANNELS, beta=0.1)
    with pytest.raises(ValueError, match="`tiling_noise` must be a finite number >= 0"):
        predict(_net(), ghn=ghn, tiling_noise=-1.0)


def test_predict_places_the_noise_in_the_quantized_model(ghn):
    model = _net()
    plain = predict(model, ghn=ghn, bits=8)
    noisy = predict(model, ghn=ghn, bits=8, tiling_noise=0.5, seed=0)
    again = predict(model, ghn=ghn, bits=8, tiling_noise=0.5, seed=0)

    def kernel(qmodel, name):
        layer = qmodel.get_layer(f"quant_{name}")
        return next(w.numpy() for w in layer.weights if w.name.endswith("kernel:0"))

    stem, noisy_stem = kernel(plain, "stem"), kernel(noisy, "stem")
    np.testing.assert_array_equal(stem[..., 8:], stem[..., :8])
    np.testing.assert_array_equal(noisy_stem[..., :8], stem[..., :8])
    assert not np.allclose(noisy_stem[..., 8:], stem[..., 8:])
    np.testing.assert_array_equal(kernel(again, "stem"), noisy_stem)
    np.testing.assert_array_equal(kernel(noisy, "fc"), kernel(plain, "fc"))
