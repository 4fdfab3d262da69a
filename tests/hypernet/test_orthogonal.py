"""Orthonormal predicted filters: `orthogonalize` and `GHN(orthogonal_kernels=True)`."""

import numpy as np
import pytest

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph import graph_from_keras
from ghnq_tf.hypernet import GHN
from ghnq_tf.hypernet.orthogonal import orthogonalize

L = keras.layers


def _singular_values(kernels):
    matrices = kernels.reshape(kernels.shape[0], -1, kernels.shape[-1])
    return np.linalg.svd(matrices, compute_uv=False)


@pytest.mark.parametrize("shape", [(3, 3, 3, 16, 16), (2, 1, 1, 8, 40), (2, 5, 5, 3, 8)])
def test_orthogonalize_flattens_the_spectrum_of_tall_and_wide_kernels(shape):
    kernels = tf.random.stateless_normal(shape, seed=[1, 2]).numpy()
    # Ill-conditioned on purpose: output and input channel scales each spread over e^3.
    kernels *= np.exp(np.linspace(0.0, -3.0, shape[-1]))
    kernels *= np.exp(np.linspace(0.0, -3.0, shape[-2]))[:, None]
    assert _singular_values(kernels).max() / _singular_values(kernels).min() > 20
    ortho = orthogonalize(tf.constant(kernels)).numpy()
    assert ortho.shape == kernels.shape
    values = _singular_values(ortho)
    # Five quintic Newton-Schulz steps: every singular value within 0.5-1.25
    # (exactly 1 for the polar factor).
    assert values.min() > 0.5 and values.max() < 1.25


def test_orthogonalize_keeps_the_singular_vectors():
    kernels = tf.random.stateless_normal([1, 3, 3, 4, 6], seed=[3, 4]).numpy()
    u, _, vt = np.linalg.svd(kernels.reshape(36, 6), full_matrices=False)
    ortho = orthogonalize(tf.constant(kernels)).numpy().reshape(36, 6)
    # The polar factor is u·vᵀ; the approximation differs only in the spectrum.
    np.testing.assert_allclose(np.abs(np.diag(u.T @ ortho @ vt.T)), 1.0, atol=0.35)
    off = u.T @ ortho @ vt.T - np.diag(np.diag(u.T @ ortho @ vt.T))
    np.testing.assert_allclose(off, 0.0, atol=1e-4)


def test_orthogonal_kernels_change_conv_and_dense_kernels_only():
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(16, 3, padding="same", use_bias=False)(x)
    h = L.BatchNormalization()(h)
    h = L.DepthwiseConv2D(3, padding="same", use_bias=False)(h)
    h = L.Dense(12, use_bias=False)(L.GlobalAveragePooling2D()(h))
    graph = graph_from_keras(keras.Model(x, L.Dense(10)(h)))

    def predict(orthogonal_kernels):
        keras.utils.set_random_seed(7)
        kwargs = dict(hidden=16, num_layers=1, channels=16, kernel_size=3, rank=0, basis=8)
        ghn = GHN(**kwargs, orthogonal_kernels=orthogonal_kernels).build_all()
        return ghn, [t.numpy() for t in ghn.predict_params(graph)[0]]

    plain, (conv, gamma, beta, dw, dense, cls, cls_bias) = predict(False)
    ortho, (o_conv, o_gamma, o_beta, o_dw, o_dense, o_cls, o_cls_bias) = predict(True)
    assert [w.shape for w in ortho.weights] == [w.shape for w in plain.weights]
    for same, other in ((gamma, o_gamma), (beta, o_beta), (dw, o_dw), (cls, o_cls)):
        np.testing.assert_array_equal(other, same)
    np.testing.assert_array_equal(o_cls_bias, cls_bias)
    for before, after in ((conv, o_conv), (dense, o_dense)):
        spread = _singular_values(before[None])[0]
        flat = _singular_values(after[None])[0]
        assert flat.max() / flat.min() < 2.5 < spread.max() / spread.min()
        # Still fan-in scaled to the same RMS (times the same gain).
        np.testing.assert_allclose(np.sqrt(np.mean(after**2)), np.sqrt(np.mean(before**2)), 1e-4)
    assert GHN.from_config(ortho.get_config()).orthogonal_kernels is True
