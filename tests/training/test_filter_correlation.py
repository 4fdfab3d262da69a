"""The filter-decorrelation penalty: filter views, its value, its gradient."""

import numpy as np
import pytest

from ghnq_tf._keras import tf
from ghnq_tf.training.filter_correlation import (
    decorrelation_gradients,
    filter_matrix,
    mean_squared_cosine,
)


def test_filter_matrix_views_conv_and_depthwise_kernels():
    conv = tf.reshape(tf.range(3 * 3 * 2 * 5, dtype=tf.float32), [3, 3, 2, 5])
    matrix = filter_matrix(conv)
    assert matrix.shape == (18, 5)
    np.testing.assert_array_equal(matrix[:, 4].numpy(), conv[..., 4].numpy().reshape(-1))
    depthwise = tf.reshape(tf.range(3 * 3 * 6, dtype=tf.float32), [3, 3, 6, 1])
    matrix = filter_matrix(depthwise)
    assert matrix.shape == (9, 6)  # one spatial filter per channel
    np.testing.assert_array_equal(matrix[:, 2].numpy(), depthwise[:, :, 2, 0].numpy().reshape(-1))


def test_mean_squared_cosine_of_known_filters():
    assert float(mean_squared_cosine(tf.eye(4)[None, None])) == 0.0  # orthogonal
    same = tf.ones([1, 1, 3, 4])  # four identical filters (tiled copies)
    np.testing.assert_allclose(float(mean_squared_cosine(same)), 1.0, rtol=1e-6)
    # Two filters at 60°: cos² = 1/4 for both ordered pairs.
    pair = tf.constant([[1.0, 0.5], [0.0, np.sqrt(3) / 2]])[None, None]
    np.testing.assert_allclose(float(mean_squared_cosine(pair)), 0.25, rtol=1e-6)
    assert float(mean_squared_cosine(tf.ones([3, 3, 8, 1])[..., :1, :])) == 0.0  # one filter


def test_gradients_lower_the_penalty_and_leave_copies_alone():
    kernel = tf.random.stateless_normal([3, 3, 4, 6], seed=[1, 2])
    (grad,) = decorrelation_gradients([kernel], 1.0)
    before = float(mean_squared_cosine(kernel))
    after = float(mean_squared_cosine(kernel - 0.05 * grad))
    assert after < before
    # Tiled copies: identical filters have cosine 1 whatever they are, so the
    # gradient on a kernel made of copies of one filter is zero.
    copies = tf.tile(tf.random.stateless_normal([3, 3, 4, 1], seed=[3, 4]), [1, 1, 1, 3])
    (grad,) = decorrelation_gradients([copies], 1.0)
    np.testing.assert_allclose(grad.numpy(), 0.0, atol=1e-6)
    assert decorrelation_gradients([], 1.0) == []


@pytest.mark.parametrize("weight", [0.5, 2.0])
def test_gradients_scale_with_the_weight_and_sum_over_kernels(weight):
    a = tf.random.stateless_normal([3, 3, 2, 3], seed=[5, 6])
    b = tf.random.stateless_normal([1, 1, 3, 5], seed=[7, 8])
    ga, gb = decorrelation_gradients([a, b], weight)
    (ga1,) = decorrelation_gradients([a], 1.0)
    (gb1,) = decorrelation_gradients([b], 1.0)
    np.testing.assert_allclose(ga.numpy(), weight * ga1.numpy(), rtol=1e-5)
    np.testing.assert_allclose(gb.numpy(), weight * gb1.numpy(), rtol=1e-5)
