"""ArchCache / make_step: the per-network step, with and without gradients."""

import numpy as np
import pytest

from ghnq_tf._keras import keras, tf
from ghnq_tf.training.arch_cache import make_step

L = keras.layers


def _net():
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(4, 3, padding="same", use_bias=False)(x)
    h = L.BatchNormalization()(h)
    h = L.GlobalAveragePooling2D()(L.ReLU()(h))
    return keras.Model(x, L.Dense(3)(h))


@pytest.mark.parametrize("trace_after", [None, 0])
def test_forward_only_step_matches_the_training_step(trace_after):
    model = _net()
    targets = model.trainable_variables
    images = tf.random.stateless_normal([16, 8, 8, 3], seed=[1, 2])
    labels = tf.constant([0, 1, 2, 1] * 4)
    loss, top1, grads = make_step(model, targets, trace_after=trace_after)(images, labels)
    forward = make_step(model, targets, trace_after=trace_after, gradients=False)
    f_loss, f_top1, f_grads = forward(images, labels)
    assert len(grads) == len(targets) and f_grads == []
    np.testing.assert_allclose(f_loss.numpy(), loss.numpy(), rtol=1e-6)
    assert f_top1.numpy() == top1.numpy()
    assert float(tf.norm(grads[0])) > 0
