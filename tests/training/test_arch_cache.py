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


def _case(seed: int):
    """A fresh network, its trainable variables, and a seeded batch of 16."""
    model = _net()
    images = tf.random.stateless_normal([16, 8, 8, 3], seed=[seed, seed + 1])
    return model, model.trainable_variables, images, tf.constant([0, 1, 2, 1] * 4)


@pytest.mark.parametrize("trace_after", [None, 0])
def test_forward_only_step_matches_the_training_step(trace_after):
    model, targets, images, labels = _case(1)
    loss, top1, grads = make_step(model, targets, trace_after=trace_after)(images, labels)
    forward = make_step(model, targets, trace_after=trace_after, gradients=False)
    f_loss, f_top1, f_grads = forward(images, labels)
    assert len(grads) == len(targets) and f_grads == []
    np.testing.assert_allclose(f_loss.numpy(), loss.numpy(), rtol=1e-6)
    assert f_top1.numpy() == top1.numpy()
    assert float(tf.norm(grads[0])) > 0


@pytest.mark.parametrize("trace_after", [None, 0])
def test_distilling_step_adds_the_softened_kl_term(trace_after):
    model, targets, images, labels = _case(3)
    teacher_logits = tf.random.stateless_normal([16, 3], seed=[5, 6]) * 3.0
    t, w = 3.0, 0.25
    soft = tf.nn.softmax(teacher_logits / t)
    step = make_step(
        model, targets, trace_after=trace_after, distill_temperature=t, distill_weight=w
    )
    loss, _, grads = step(images, labels, soft)
    # By hand, from the same logits (training mode: batch statistics, no state).
    logits = model(images, training=True).numpy().astype(np.float64)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -np.mean(log_p[np.arange(16), labels.numpy()])
    z = logits / t
    log_q = z - np.log(np.exp(z).sum(-1, keepdims=True))
    s = soft.numpy().astype(np.float64)
    kl = np.mean(np.sum(s * (np.log(s) - log_q), -1))
    np.testing.assert_allclose(loss.numpy(), (1 - w) * ce + w * t * t * kl, rtol=1e-5)
    plain, _, plain_grads = make_step(model, targets, trace_after=trace_after)(images, labels)
    np.testing.assert_allclose(plain.numpy(), ce, rtol=1e-5)
    assert not np.allclose(grads[-1].numpy(), plain_grads[-1].numpy())
    # With weight 0 the teacher changes nothing.
    zero = make_step(model, targets, trace_after=trace_after, distill_weight=0.0)
    np.testing.assert_allclose(zero(images, labels, soft)[0].numpy(), ce, rtol=1e-5)


@pytest.mark.parametrize("trace_after", [None, 0])
def test_step_clips_adds_the_norm_penalty_and_scales(trace_after):
    model, targets, images, labels = _case(5)
    _, _, plain = make_step(model, targets, trace_after=trace_after)(images, labels)
    plain = [g.numpy() for g in plain]
    norm = np.sqrt(sum((g**2).sum() for g in plain))
    clip, penalty, scale = 0.5 * norm, 1e-2, 0.25  # a clip that binds: factor 0.5
    step = make_step(
        model, targets, trace_after=trace_after, network_clip=clip, param_penalty=penalty
    )
    _, _, grads = step(images, labels, None, tf.constant(scale))
    for g, p, v in zip(grads, plain, targets, strict=True):
        v = v.numpy()  # the zero-initialized biases get no penalty gradient, not NaN
        want = scale * (0.5 * p + penalty * v / (np.linalg.norm(v) + 1e-12))
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("trace_after", [None, 0])
def test_step_adds_the_filter_decorrelation_gradient_to_conv_kernels(trace_after):
    model, targets, images, labels = _case(7)
    _, _, plain = make_step(model, targets, trace_after=trace_after)(images, labels)
    step = make_step(model, targets, trace_after=trace_after, filter_decorrelation=0.5)
    _, _, grads = step(images, labels)
    kernel = targets[0]  # the conv kernel, [3, 3, 3, 4]: the only rank-4 target
    assert len(kernel.shape) == 4 and all(len(v.shape) < 4 for v in targets[1:])
    # d/dW of 0.5 · mean_{i≠j} cos²(w_i, w_j), by hand: with u_i = w_i / |w_i|
    # and G = UᵀU, d/dw_i of Σ_{j≠i} 2 G_ij² / (n(n-1)) is
    # 4 / (n(n-1)) · Σ_{j≠i} G_ij (u_j - G_ij u_i) / |w_i|.
    w = kernel.numpy().reshape(-1, 4).astype(np.float64)
    n, norms = 4, np.linalg.norm(w, axis=0)
    u = w / norms
    gram = u.T @ u
    want = np.zeros_like(w)
    for i in range(n):
        for j in range(n):
            if i != j:
                want[:, i] += gram[i, j] * (u[:, j] - gram[i, j] * u[:, i]) / norms[i]
    want *= 0.5 * 4.0 / (n * (n - 1))
    extra = grads[0].numpy() - plain[0].numpy()
    np.testing.assert_allclose(extra.reshape(-1, 4), want, rtol=1e-4, atol=1e-7)
    for g, p in zip(grads[1:], plain[1:], strict=True):
        np.testing.assert_array_equal(g.numpy(), p.numpy())
