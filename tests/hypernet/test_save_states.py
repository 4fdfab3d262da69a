"""A GHN saves and reloads in every state: fresh, partly used, fully built, trained."""

import numpy as np
import pytest

import ghnq_tf as gq
from ghnq_tf._keras import keras, tf
from ghnq_tf.graph import graph_from_keras, graphs_to_tensor
from ghnq_tf.hypernet import GHN
from ghnq_tf.hypernet.decoder import KERNEL_KINDS, VECTOR_KINDS
from ghnq_tf.hypernet.probe import probe_graph

L = keras.layers
SMALL = {"hidden": 16, "num_layers": 1, "rank": 4, "basis": 4, "channels": 16, "kernel_size": 3}


def _plain_net():
    """Conv (no bias) → BN → classifier: no depthwise, no hidden Dense layer."""
    x = keras.Input((8, 8, 3))
    h = L.BatchNormalization()(L.Conv2D(8, 3, use_bias=False)(x))
    return keras.Model(x, L.Dense(10)(L.GlobalAveragePooling2D()(h)))


def _fresh(seed=11):
    keras.utils.set_random_seed(seed)
    return GHN(**SMALL)


def _trained():
    """A GHN trained (three Adam steps) on the plain network's kinds only."""
    ghn = _fresh()
    optimizer = keras.optimizers.Adam(0.05)
    tensor = graphs_to_tensor(graph_from_keras(_plain_net()), bits=4)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_sum(tf.square(t - 0.1)) for t in ghn(tensor)])
        grads = tape.gradient(loss, ghn.trainable_weights)
        pairs = zip(grads, ghn.trainable_weights, strict=True)
        optimizer.apply_gradients([(g, w) for g, w in pairs if g is not None])  # met heads only
    return ghn


def _partly_built():
    # The steps: a new GHN predicts a network without depthwise or
    # hidden Dense layers, so it never used the heads for those kinds.
    ghn = _fresh()
    gq.predict(_plain_net(), bits=4, ghn=ghn)
    return ghn


STATES = {
    "fresh": _fresh,
    "partly_built": _partly_built,
    "fully_built": lambda: _fresh().build_all(),
    "trained": _trained,
}


@pytest.mark.parametrize("state", list(STATES))
def test_a_ghn_reloads_in_every_state_and_predicts_the_same(state, tmp_path):
    ghn = STATES[state]()
    path = str(tmp_path / "g.keras")
    ghn.save(path)
    again = GHN.load(path)
    for a, b in zip(again.get_weights(), ghn.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # The network it met, and the probe, which uses every head (depthwise and
    # hidden Dense ones included, which the partly built GHN had not met).
    graphs = [graph_from_keras(_plain_net()), probe_graph()]
    for bits in (4, None):
        for before, after in zip(
            ghn.predict_params(graphs, bits=bits),
            again.predict_params(graphs, bits=bits),
            strict=True,
        ):
            for a, b in zip(before, after, strict=True):
                np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_weights_do_not_depend_on_the_networks_a_ghn_met():
    plain = graph_from_keras(_plain_net())  # before seeding: its layers draw numbers too
    met_plain = _fresh()
    met_plain.predict_params(plain, bits=4)
    built = _fresh().build_all()  # as the trainer and every checkpoint start
    heads = met_plain.decoder.heads
    assert list(heads) == [*KERNEL_KINDS, *VECTOR_KINDS] and all(h.built for h in heads.values())
    assert len(met_plain.weights) == len(built.weights)
    for a, b in zip(met_plain.get_weights(), built.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_bundled_ghn_saved_again_predicts_the_same(tmp_path):
    ghn = GHN.from_pretrained("digits")
    graph = graph_from_keras(_plain_net())
    before = ghn.predict_params(graph, bits=4)[0]
    ghn.save(str(tmp_path / "digits.keras"))
    after = GHN.load(str(tmp_path / "digits.keras")).predict_params(graph, bits=4)[0]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_kind_the_bundled_ghn_never_met_gets_a_fan_in_scaled_initialization():
    # DARTS-cell networks have no hidden Dense layer: the `linear` head of the
    # bundled GHNs was never trained (its biases are still Keras' zeros), the
    # others were. Such a kernel is still decoded like every kernel: unit RMS
    # times sqrt(1 / fan_in) times a gain in (0, 2), the same every call.
    ghn = GHN.from_pretrained("digits")
    untouched = [
        kind
        for kind, head in ghn.decoder.heads.items()
        if not any(np.any(layer.bias.numpy()) for layer in head.layers)
    ]
    assert untouched == ["linear"]
    x = keras.Input((4, 4, 3))
    h = L.Dense(24, name="hidden_dense")(L.GlobalAveragePooling2D()(x))
    graph = graph_from_keras(keras.Model(x, L.Dense(10)(h)))
    kernel, again = (ghn.predict_params(graph, bits=4)[0][0].numpy() for _ in range(2))
    np.testing.assert_array_equal(kernel, again)
    assert kernel.shape == (3, 24)
    rms = float(np.sqrt(np.mean(kernel**2)))
    print(f"hidden Dense kernel RMS / sqrt(1/fan_in) = {rms / np.sqrt(1 / 3):.3f}")
    assert 0 < rms < 2 * np.sqrt(1 / 3)
