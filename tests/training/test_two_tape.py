"""The two-tape step: exact GHN gradients through a target model."""

import numpy as np
import pytest

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph import graph_from_keras, graphs_to_tensor, param_variables
from ghnq_tf.hypernet import GHN
from ghnq_tf.training.two_tape import ghn_gradients, inject

L = keras.layers


def _net(width):
    """Uses every decoder head: conv, depthwise, dense, classifier, bias, BN."""
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(width, 3, padding="same", activation="relu")(x)
    h = L.BatchNormalization()(h)
    h = L.SeparableConv2D(width, 3, padding="same", activation="relu")(h)
    h = L.Dense(width, activation="relu")(h)
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(x, L.Dense(4)(h))


def test_gradient_matches_finite_differences():
    keras.utils.set_random_seed(0)
    ghn = GHN(hidden=16, num_layers=1, rank=4).build_all()
    models = [_net(4), _net(6)]
    graphs = [graph_from_keras(m) for m in models]
    gt = graphs_to_tensor(graphs, bits=4)
    variables = [v for m, g in zip(models, graphs, strict=True) for v in param_variables(m, g)]
    x = tf.random.stateless_normal([8, 8, 8, 3], seed=[1, 2])
    y = tf.constant([0, 1, 2, 3, 0, 1, 2, 3])
    loss_obj = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss_fn():
        return sum(loss_obj(y, m(x, training=True)) for m in models) / len(models)

    loss, grads = ghn_gradients(ghn, gt, variables, loss_fn)
    assert np.isfinite(float(loss))
    assert all(np.all(np.isfinite(g)) for g in grads)
    nonzero = [float(tf.reduce_max(tf.abs(g))) > 0 for g in grads]
    assert all(nonzero), [
        w.name for w, ok in zip(ghn.trainable_variables, nonzero, strict=True) if not ok
    ]

    # Central finite differences along the gradient of two weight tensors (a
    # kernel head and the conv channel basis): the directional derivative
    # along u = g / |g| must equal |g|. (The loss curves: eps = 3e-3 read 6 %
    # low on the head, 5e-4 reads within 1 %.)
    for name in ("head_conv_out", "bank_conv"):
        index = next(i for i, w in enumerate(ghn.trainable_variables) if name in w.name)
        weight, grad = ghn.trainable_variables[index], grads[index].numpy().astype(np.float64)
        direction = grad / np.linalg.norm(grad)
        original = weight.numpy()

        def loss_at(step, weight=weight, direction=direction, original=original):
            weight.assign((original + step * direction).astype(np.float32))
            inject(variables, ghn(gt))
            return float(loss_fn())

        eps = 5e-4
        numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
        weight.assign(original)
        assert numeric == pytest.approx(np.linalg.norm(grad), rel=0.03), name


def test_inject_rejects_mismatched_shapes():
    var = tf.Variable(tf.zeros([2, 3]))
    with pytest.raises(ValueError, match="does not fit variable"):
        inject([var], [tf.zeros([3, 2])])
    with pytest.raises(ValueError, match="do not match"):
        inject([var], [])


@pytest.mark.parametrize("bits, ranges", [(2, "batch"), (4, "batch"), (8, "batch"), (2, "mse")])
def test_gradients_through_fake_quant_reach_every_ghn_weight(bits, ranges):
    """Through tfmot's fake-quant (straight-through) at 2, 4 and 8 bits, for a
    batch of two architectures in one GHN call. (A finite-difference check is
    only meaningful on the float model above: a fake-quant loss is piecewise
    constant in the weights, which is why QAT uses straight-through gradients.)"""
    from ghnq_tf.quant import quantize
    from ghnq_tf.quant.variables import target_list
    from ghnq_tf.training.fresh_ranges import use_fresh_ranges

    keras.utils.set_random_seed(1)
    ghn = GHN(hidden=16, num_layers=1, rank=4).build_all()
    models = [_net(4), _net(6)]
    graphs = [graph_from_keras(m) for m in models]
    qmodels = [quantize(m, bits=bits) for m in models]
    variables = [
        v for m, q, g in zip(models, qmodels, graphs, strict=True) for v in target_list(q, m, g)
    ]
    x = tf.random.stateless_normal([8, 8, 8, 3], seed=[5, 6])
    y = tf.constant([0, 1, 2, 3, 0, 1, 2, 3])
    loss_obj = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    # As GHNTrainer does: activation ranges follow the batch (tfmot's moving
    # average would start at [-6, 6] and cut the straight-through gradient).
    # "mse": least-squares activation and weight ranges (no gradient through
    # the range itself, only the straight-through one).
    for qmodel in qmodels:
        assert use_fresh_ranges(qmodel, mode=ranges) > 0

    def loss_fn():
        return sum(loss_obj(y, q(x, training=True)) for q in qmodels) / len(qmodels)

    loss, grads = ghn_gradients(ghn, graphs_to_tensor(graphs, bits=bits), variables, loss_fn)
    assert np.isfinite(float(loss))
    for weight, grad in zip(ghn.trainable_variables, grads, strict=True):
        assert np.all(np.isfinite(grad)), weight.name
        assert float(tf.reduce_max(tf.abs(grad))) > 0, weight.name
