"""The GHN: exact shapes, bitwidth input, message-passing ablation, normalization."""

import numpy as np
import pytest

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph import graph_from_keras, graphs_to_tensor, param_variables
from ghnq_tf.hypernet import GHN

L = keras.layers


def _net(width=8, depth=2, classes=10):
    x = keras.Input((16, 16, 3))
    h = L.Conv2D(width, 3, padding="same", use_bias=False)(x)
    h = L.BatchNormalization()(h)
    for _ in range(depth):
        h = L.Add()([h, L.SeparableConv2D(width, 3, padding="same")(L.ReLU()(h))])
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(x, L.Dense(classes)(h))


@pytest.fixture(scope="module")
def ghn():
    return GHN(hidden=32, num_layers=2).build_all()


def test_one_call_predicts_every_parameter_of_a_batch(ghn, application):
    models = [_net(8), _net(128, depth=1, classes=3), application("MobileNetV3Small")]
    graphs = [graph_from_keras(m) for m in models]
    flat = ghn(graphs_to_tensor(graphs, bits=4))
    assert len(flat) == sum(len(g.params) for g in graphs)
    per_model = ghn.predict_params(graphs, bits=4)
    for model, graph, tensors in zip(models, graphs, per_model, strict=True):
        for var, value in zip(param_variables(model, graph), tensors, strict=True):
            assert tuple(value.shape) == tuple(var.shape)
            assert bool(tf.reduce_all(tf.math.is_finite(value)))


def test_bitwidth_is_an_input(ghn):
    g = graph_from_keras(_net())
    w4, w2, w32 = (ghn.predict_params(g, bits=b)[0][0] for b in (4, 2, None))
    assert not np.allclose(w4, w2) and not np.allclose(w4, w32)
    np.testing.assert_array_equal(w4, ghn.predict_params(g, bits=4)[0][0])  # deterministic


def test_message_passing_off_decodes_each_node_alone(ghn):
    ten, three = graph_from_keras(_net(classes=10)), graph_from_keras(_net(classes=3))
    # The stem conv is identical in both nets, at the same depth and height;
    # only the classifier, elsewhere in the graph, differs.
    for mp, same in ((False, True), (True, False)):
        a = ghn.predict_params(ten, bits=4, message_passing=mp)[0][0]
        b = ghn.predict_params(three, bits=4, message_passing=mp)[0][0]
        assert np.allclose(a, b) == same


def test_normalization_and_tiling(ghn):
    model = _net(128, depth=1)
    graph = graph_from_keras(model)
    values = dict(
        zip(
            [(p.layer[-1], p.attr) for p in graph.params], ghn.predict_params(graph)[0], strict=True
        )
    )
    stem = values[(model.layers[1].name, "kernel")].numpy()  # (3, 3, 3, 128): 128 > 64 channels
    np.testing.assert_allclose(stem[..., :64], stem[..., 64:])  # tiled along output channels
    # Fan-in scale sqrt(β / 27), β = 1, times the predicted gain 2·sigmoid(p), ~1 at init.
    gain = np.sqrt(np.mean(stem**2)) / np.sqrt(1.0 / 27.0)
    assert 0.5 < gain < 1.5
    gamma = values[(model.layers[2].name, "gamma")].numpy()
    assert gamma.min() > 0 and gamma.max() < 2
    biases = [v.numpy() for (_, attr), v in values.items() if attr in ("bias", "beta")]
    assert all(np.abs(b).max() < 1 for b in biases)


def test_basis_term_lifts_the_cp_rank_bottleneck():
    x = keras.Input((4, 4, 16))
    h = L.Conv2D(16, 1, use_bias=False)(L.Conv2D(16, 1, use_bias=False)(x))
    graph = graph_from_keras(keras.Model(x, L.Dense(10)(L.GlobalAveragePooling2D()(h))))

    def channel_rank(**kwargs):
        keras.utils.set_random_seed(3)
        kernel = GHN(hidden=16, num_layers=1, channels=16, **kwargs).predict_params(graph)[0][1]
        return np.linalg.matrix_rank(kernel.numpy().reshape(16, 16), tol=1e-4)

    assert channel_rank(rank=2, basis=0) <= 2  # every layer squeezed through 2 directions
    assert channel_rank(rank=2, basis=4) > 8
    assert channel_rank(rank=0, basis=0, templates=2) > 8  # whole learned tensors
    with pytest.raises(ValueError, match="not all 0"):
        GHN(rank=0, basis=0).build_all()


def _conv_classifier_graph(*, classifier_bias=True):
    """A 3x3 conv (kind `conv`, 8 channels) then a 10-way classifier."""
    x = keras.Input((4, 4, 8))
    h = L.GlobalAveragePooling2D()(L.Conv2D(8, 3, use_bias=False)(x))
    return graph_from_keras(keras.Model(x, L.Dense(10, use_bias=classifier_bias)(h)))


def test_templates_are_learned_and_only_exist_when_used():
    graph = _conv_classifier_graph()
    plain = GHN(hidden=16, num_layers=1, channels=8, kernel_size=3, rank=0, basis=2).build_all()
    assert not any("templates" in w.name for w in plain.weights)  # old checkpoints load as before
    ghn = GHN(hidden=16, num_layers=1, channels=8, kernel_size=3, rank=0, basis=2, templates=3)
    ghn.build_all()
    templates = [w for w in ghn.weights if "templates_conv" in w.name]
    assert [tuple(w.shape) for w in templates] == [(3, 3, 3, 8, 8)]
    with tf.GradientTape() as tape:
        kernel = ghn(graphs_to_tensor(graph))[0]
        loss = tf.reduce_sum(kernel * tf.random.stateless_normal(kernel.shape, (1, 2)))
    grad = tape.gradient(loss, templates[0])
    assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0
    assert GHN.from_config(ghn.get_config()).get_config()["templates"] == 3


def test_bank_stddev_scales_the_banks_not_the_prediction():
    graph = _conv_classifier_graph()

    def build(bank_stddev):
        keras.utils.set_random_seed(5)
        kwargs = dict(hidden=16, num_layers=1, channels=8, kernel_size=3, rank=0, basis=2)
        ghn = GHN(**kwargs, templates=2, bank_stddev=bank_stddev).build_all()
        bank = next(w for w in ghn.weights if "bank_conv" in w.name)
        return ghn.predict_params(graph)[0][0].numpy(), float(np.std(bank.numpy()))

    kernel, spread = build(1.0)
    small_kernel, small_spread = build(0.01)
    assert small_spread == pytest.approx(0.01 * spread, rel=1e-5)
    np.testing.assert_allclose(small_kernel, kernel, rtol=1e-4, atol=1e-6)
    assert GHN.from_config(GHN(bank_stddev=0.1).get_config()).bank_stddev == 0.1
    with pytest.raises(ValueError, match="`bank_stddev` must be > 0. Received: bank_stddev=0"):
        GHN(bank_stddev=0)
    with pytest.raises(ValueError, match="`classifier_beta` must be > 0"):
        GHN(classifier_beta=-1.0)


def test_classifier_beta_sets_the_classifier_scale_only():
    graph = _conv_classifier_graph(classifier_bias=False)

    def kernels(classifier_beta):
        keras.utils.set_random_seed(5)
        ghn = GHN(
            hidden=16,
            num_layers=1,
            channels=8,
            kernel_size=3,
            rank=0,
            basis=2,
            classifier_beta=classifier_beta,
        ).build_all()
        return [t.numpy() for t in ghn.predict_params(graph)[0]]

    (conv, dense), (conv_4x, dense_4x) = kernels(0.1), kernels(0.4)
    np.testing.assert_allclose(conv_4x, conv, rtol=1e-5)
    np.testing.assert_allclose(dense_4x, 2.0 * dense, rtol=1e-5)  # sqrt(beta / fan_in)


def test_eager_only_is_a_clear_error(ghn):
    gt = graphs_to_tensor(graph_from_keras(_net()))

    @tf.function
    def traced(graph):
        return ghn(graph)

    with pytest.raises(RuntimeError, match="must be called eagerly"):
        traced(gt)


def test_config_round_trip():
    ghn = GHN(hidden=16, num_layers=1, conv="gatv2", rank=4, basis=3, channels=32, kernel_size=5)
    again = GHN.from_config(ghn.get_config())
    assert again.get_config() == ghn.get_config()
    with pytest.raises(ValueError, match="`conv` must be one of"):
        GHN(conv="gcn")
    with pytest.raises(ValueError, match="multiple of 4"):
        GHN(hidden=30)


def test_gatv2_variant_predicts(application):
    ghn = GHN(hidden=16, num_layers=1, conv="gatv2")
    graph = graph_from_keras(_net())
    tensors = ghn.predict_params(graph, bits=8)[0]
    assert len(tensors) == len(graph.params)


def test_initialization_is_reproducible_with_a_seed():
    def weights():
        keras.utils.set_random_seed(7)
        return [w.numpy() for w in GHN(hidden=16, num_layers=1, rank=4).build_all().weights]

    for a, b in zip(weights(), weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def _family_rank(rolled, kh):
    """Dimension of the kernels one decoder group can express: c=16, k=3, basis 2."""
    from ghnq_tf.hypernet.kernel_mix import crop_index, kernel_function, tile_index

    c, k, b = 16, 3, 2
    bank = tf.random.stateless_normal([b, c, c], seed=[1, 2])
    out = tf.random.stateless_normal([64, b * k * k + 1], seed=[3, 4])  # 64 nodes' head outputs
    kernels = kernel_function(c, k, 0, b, 0, rolled)(
        out,
        bank,
        tf.zeros([0, k, k, c, c]),
        tile_index(c, c),
        tile_index(10, c),
        crop_index(kh, k),
        crop_index(kh, k),
        np.ones([64], np.float32),
    )
    return np.linalg.matrix_rank(kernels.numpy().reshape(64, -1), tol=1e-4), kernels, out, bank


def test_roll_pointwise_gives_1x1_kernels_every_position_of_the_bank():
    # Centre only: a 1×1 kernel is a mix of the `basis` matrices (rank 2 over
    # 64 nodes); rolled, of basis · k² = 18 rolled matrices (the 9 rolls are
    # distinct while k² ≤ channels, as 49 ≤ 64 in the configs).
    assert _family_rank(False, 1)[0] == 2
    rank, kernels, out, bank = _family_rank(True, 1)
    assert rank == 18
    # By hand: Σ_{b,p} coef[b, p] · bank[b, i, (o + p) mod c], at unit RMS times the gain.
    coef = out.numpy()[:, :18].reshape(64, 2, 9)
    rolled = np.stack([np.roll(bank.numpy(), -p, axis=2) for p in range(9)], 1)  # [b, p, i, o]
    want = np.einsum("gbp,bpio->gio", coef, rolled)[:, :, :10]
    want /= np.sqrt(np.mean(want**2, axis=(1, 2), keepdims=True))
    want *= 2.0 / (1.0 + np.exp(-out.numpy()[:, -1]))[:, None, None]
    np.testing.assert_allclose(kernels.numpy()[:, 0, 0], want, rtol=1e-4, atol=1e-5)


def test_roll_pointwise_changes_only_1x1_and_dense_kernels():
    x = keras.Input((4, 4, 8))
    h = L.Conv2D(8, 1, use_bias=False)(L.Conv2D(8, 3, padding="same", use_bias=False)(x))
    graph = graph_from_keras(keras.Model(x, L.Dense(10)(L.GlobalAveragePooling2D()(h))))

    def predict(roll_pointwise):
        keras.utils.set_random_seed(6)
        kwargs = dict(hidden=16, num_layers=1, channels=8, kernel_size=3, rank=0, basis=2)
        ghn = GHN(**kwargs, roll_pointwise=roll_pointwise).build_all()
        return ghn, [t.numpy() for t in ghn.predict_params(graph)[0]]

    plain, (conv3, conv1, dense, bias) = predict(False)
    rolled, (r_conv3, r_conv1, r_dense, r_bias) = predict(True)
    # The same weights (rolling adds none), the same 3×3 kernel and bias.
    assert [w.shape for w in rolled.weights] == [w.shape for w in plain.weights]
    np.testing.assert_array_equal(r_conv3, conv3)
    np.testing.assert_array_equal(r_bias, bias)
    assert not np.allclose(r_conv1, conv1) and not np.allclose(r_dense, dense)
    assert r_conv1.shape == conv1.shape and r_dense.shape == dense.shape
    assert GHN.from_config(rolled.get_config()).roll_pointwise is True


def test_centre_coefficients_removes_each_networks_shared_mix():
    x = keras.Input((4, 4, 8))
    h = L.Conv2D(8, 3, padding="same", use_bias=False)(x)
    h = L.Conv2D(8, 3, padding="same", use_bias=False)(h)
    h = L.Conv2D(8, 3, padding="same", use_bias=False)(h)
    graph = graph_from_keras(keras.Model(x, L.Dense(10)(L.GlobalAveragePooling2D()(h))))
    other = graph_from_keras(_net(8))

    def predict(centre, graphs):
        keras.utils.set_random_seed(7)
        kwargs = dict(hidden=16, num_layers=1, channels=8, kernel_size=3, rank=0, basis=2)
        ghn = GHN(**kwargs, centre_coefficients=centre).build_all()
        return ghn, [[t.numpy() for t in p] for p in ghn.predict_params(graphs)]

    plain, [(*convs, dense, bias)] = predict(0.0, [graph])
    centred, [(*c_convs, c_dense, c_bias), _] = predict(1.0, [graph, other])
    # The three conv kernels' coefficients, centred over the network, sum to
    # zero: their bank mixes (before RMS scaling) are no longer all alike.
    states = centred._param_states(graphs_to_tensor([graph], bits=4), True)
    out = centred.decoder.heads["conv"](states[:3])
    centred_out = centred.decoder._centre(out, tf.zeros([3], tf.int32))
    np.testing.assert_allclose(np.sum(centred_out[:, :-1], axis=0), 0.0, atol=1e-5)
    np.testing.assert_array_equal(centred_out[:, -1], out[:, -1])  # gains kept
    # The classifier and the bias keep their own decoding; a network's
    # prediction does not depend on the networks predicted with it.
    np.testing.assert_allclose(c_dense, dense, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_bias, bias, rtol=1e-5, atol=1e-6)
    assert not any(np.allclose(c, p) for c, p in zip(c_convs, convs, strict=True))
    (*alone, _, _) = predict(1.0, [graph])[1][0]
    for a, c in zip(alone, c_convs, strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    assert GHN.from_config(centred.get_config()).centre_coefficients == 1.0
    with pytest.raises(ValueError, match="`centre_coefficients` must be between 0 and 1"):
        GHN(centre_coefficients=1.5)


def test_centre_states_gives_each_network_centred_unit_rms_states():
    graphs = [graph_from_keras(_net(8)), graph_from_keras(_net(16, depth=3))]
    keras.utils.set_random_seed(8)
    ghn = GHN(hidden=16, num_layers=1, rank=0, basis=2, centre_states=True).build_all()
    states = ghn.node_states(graphs_to_tensor(graphs, bits=4)).numpy()
    first = graphs[0].num_nodes
    for part in (states[:first], states[first:]):
        np.testing.assert_allclose(part.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(np.sqrt(np.mean(part**2)), 1.0, rtol=1e-3)
    # A network's prediction does not depend on the networks predicted with it.
    together = ghn.predict_params(graphs, bits=4)[1]
    alone = ghn.predict_params(graphs[1], bits=4)[0]
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    assert GHN.from_config(ghn.get_config()).centre_states is True


def test_skip_states_adds_each_nodes_unit_rms_encoder_state():
    graph = graphs_to_tensor([graph_from_keras(_net(8))], bits=4)
    keras.utils.set_random_seed(9)
    plain = GHN(hidden=16, num_layers=2, rank=0, basis=2).build_all()
    skip = GHN.from_config({**plain.get_config(), "skip_states": True}).build_all()
    skip.set_weights(plain.get_weights())  # no weights of its own
    encoded = plain.encoder(graph).numpy()
    unit = encoded / np.sqrt(np.mean(encoded**2, axis=1, keepdims=True))
    np.testing.assert_allclose(
        skip.node_states(graph).numpy(), plain.node_states(graph).numpy() + unit, atol=1e-5
    )
    # The no-graph ablation decodes the encoder states alone, as without the skip.
    np.testing.assert_allclose(
        skip.node_states(graph, message_passing=False).numpy(), encoded, atol=1e-6
    )
    assert GHN.from_config(skip.get_config()).skip_states is True
