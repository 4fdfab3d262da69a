"""The private internals in `ghnq_tf._compat`, against the pinned versions.

ghnq_tf was checked against exactly these versions (`ghnq_tf._compat.PINNED`,
the pins of pyproject.toml): tensorflow 2.21.0, tf_keras 2.21.0,
tensorflow-model-optimization 0.8.1 and ai-edge-litert 2.3.0. An upgrade that
moves a private internal fails here, naming it.
"""

from importlib import metadata

import pytest

from ghnq_tf import _compat

CHECKED_AGAINST = {
    "tensorflow": "2.21.0",
    "tf_keras": "2.21.0",
    "tensorflow-model-optimization": "0.8.1",
    "ai-edge-litert": "2.3.0",
}


def test_pinned_versions_are_the_checked_ones():
    assert _compat.PINNED == CHECKED_AGAINST


@pytest.mark.parametrize("package", sorted(CHECKED_AGAINST))
def test_installed_version_is_pinned(package):
    installed = metadata.version(package)
    assert installed == CHECKED_AGAINST[package], (
        f"{package} {installed} is installed; ghnq_tf/_compat/ was checked against "
        f"{CHECKED_AGAINST[package]}. Re-check every internal in ghnq_tf/_compat/."
    )


def test_require_names_the_pinned_version():
    with pytest.raises(_compat.CompatError, match=r"tensorflow-model-optimization==0\.8\.1"):
        _compat.require(_compat, "_no_such_internal", package="tensorflow-model-optimization")


def test_tensorflow_internals():
    from ghnq_tf._compat import tensorflow as tf_compat

    assert callable(tf_compat.get_symbol_from_name("math.add"))
    assert tf_compat.get_symbol_from_name("math.add")(1.0, 2.0).numpy() == 3.0
    for name in ("_push_per_thread_mode", "_pop_per_thread_mode", "_get_default_replica_mode"):
        assert hasattr(tf_compat.distribute_lib, name), name
    with tf_compat.default_replica_mode():
        pass
    assert tf_compat.smart_cond(True, lambda: 1, lambda: 2) == 1
    assert tf_compat.smart_cond(False, lambda: 1, lambda: 2) == 2


def test_tf_keras_internals():
    from ghnq_tf._compat.tf_keras import TFOpLambda
    from ghnq_tf._keras import keras, tf

    inputs = keras.Input((2,))
    model = keras.Model(inputs, tf.math.add(inputs, 1.0))
    assert any(isinstance(layer, TFOpLambda) for layer in model.layers)


def test_tfmot_internals():
    import tensorflow_model_optimization as tfmot

    from ghnq_tf._compat import tfmot as tfmot_compat
    from ghnq_tf._keras import keras
    from ghnq_tf.quant import quantize

    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.ReLU()(x)
    model = keras.Model(inputs, keras.layers.Flatten()(x))
    qmodel = quantize(model, bits=4)
    wrappers = [
        layer
        for layer in qmodel.layers
        if isinstance(layer, tfmot.quantization.keras.QuantizeWrapper)
    ]
    assert wrappers
    for wrapper in wrappers:
        for name in tfmot_compat.WRAPPER_STATE:
            assert hasattr(wrapper, name), name
    weighted = [w for w in wrappers if tfmot_compat.weight_vars(w)]
    assert weighted, "no QuantizeWrapper holds `_weight_vars`"
    conv = weighted[0]
    (_, quantizer, _), *_ = tfmot_compat.weight_vars(conv)
    tfmot_compat.set_weight_quantizer(conv, 0, quantizer)
    assert tfmot_compat.weight_vars(conv)[0][1] is quantizer
    for wrapper in wrappers:
        for act in tfmot_compat.quantize_activations(wrapper):
            assert isinstance(act, tfmot_compat.QuantizeAwareActivation)
            tfmot_compat.activation_quantizer_vars(act)
        if tfmot_compat.output_quantizers(wrapper):
            assert tfmot_compat.output_quantizer_vars(wrapper) is not None
    config = tfmot_compat.n_bit_registry.DefaultNBitQuantizeConfig(
        ["kernel"], ["activation"], False, num_bits_weight=8, num_bits_activation=8
    )
    for attr in ("_num_bits_weight", "_num_bits_activation"):
        assert hasattr(config, attr), attr
    tfmot_compat.set_config_bits(config, 4, 2)
    assert (config._num_bits_weight, config._num_bits_activation) == (4, 2)
    for name in tfmot_compat._TRANSFORMER_METHODS:
        assert hasattr(tfmot_compat.ModelTransformer, name), name


def test_litert_internals():
    from ai_edge_litert.interpreter import Interpreter

    assert hasattr(Interpreter, "_get_ops_details")


def test_tf_keras_graph_internals():
    from ghnq_tf._compat import tf_keras as tfk
    from ghnq_tf._keras import keras

    inputs = keras.Input((3,), name="x")
    dense = keras.layers.Dense(2)
    model = keras.Model(inputs, dense(inputs))
    assert tfk.is_graph_network(model)
    assert tfk.is_keras_tensor(model.outputs[0])
    assert tfk.producing_layer(model.inputs[0]).name == "x"
    assert sum(len(n) for n in tfk.nodes_by_depth(model).values()) == 2
    assert tfk.inbound_nodes(dense)
    assert tfk.nested_outputs(model) is not None


def test_tf_keras_build_internals():
    # A layer built as its first call builds it, and a model rebuilt from its
    # config around given layers: what the one-pass quantize wrap relies on.
    from ghnq_tf._compat import tf_keras as tfk
    from ghnq_tf._keras import keras

    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs))
    dense = keras.layers.Dense(2, name="d")
    tfk.build_as_called(dense, tfk.build_input_shape(model.get_layer("d")))
    assert [v.name for v in dense.weights] == ["d/kernel:0", "d/bias:0"]
    assert dense.get_config() == model.get_layer("d").get_config()
    rebuilt = tfk.functional_from_config(model.get_config(), {}, lambda layers: {"d": dense})
    assert rebuilt.get_layer("d") is dense and tfk.inbound_nodes(dense)
    assert rebuilt.get_config() == model.get_config()
