"""Keras model → ArchGraph: wiring, folding, parameters, errors."""

import pytest

from ghnq_tf._keras import keras
from ghnq_tf.graph import UnsupportedLayerError, graph_from_keras, param_variables

L = keras.layers


def _ops(graph):
    return [n.op for n in graph.nodes]


def test_sequential_chain_with_folded_layers():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            L.Conv2D(4, 3, strides=2, activation="relu", name="c1"),
            L.BatchNormalization(name="bn"),
            L.ReLU(6.0, name="r6"),
            L.Dropout(0.1),
            L.MaxPooling2D(2, name="mp"),
            L.Flatten(),
            L.Dense(10, name="fc"),
        ]
    )
    g = graph_from_keras(model)
    assert _ops(g) == ["input", "conv", "bias", "bn", "max_pool", "linear", "bias"]
    assert g.edges == ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6))
    depth, height = g.depths()
    assert depth.tolist() == [0, 1, 2, 3, 4, 5, 6] and height.tolist() == [6, 5, 4, 3, 2, 1, 0]
    assert g.node_features()["depth"].tolist() == depth.tolist()

    conv, bias, bn, pool = g.nodes[1:5]
    assert conv.shape == (4, 3, 3, 3) and conv.stride == 2
    assert bias.activation == "relu"  # the layer's own activation sits after its bias
    assert bn.activation == "relu6" and bn.folded == ("ReLU", "Dropout")
    assert pool.folded == ("Flatten",) and pool.stride == 2
    assert g.nodes[5].shape == (10, 4, 1, 1)  # Dense(1·1·4 -> 10), (out, in, kh, kw)
    assert g.nodes[-1].is_output and not g.nodes[-2].is_output
    assert [(p.layer[-1], p.attr) for p in g.params] == [
        ("c1", "kernel"),
        ("c1", "bias"),
        ("bn", "gamma"),
        ("bn", "beta"),
        ("fc", "kernel"),
        ("fc", "bias"),
    ]


def test_depth_and_height_follow_the_longest_path():
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(4, 1, use_bias=False, name="stem")(x)
    branch = L.Conv2D(4, 3, padding="same", use_bias=False, name="b1")(h)
    branch = L.Conv2D(4, 3, padding="same", use_bias=False, name="b2")(branch)
    g = graph_from_keras(keras.Model(x, L.Add(name="add")([h, branch])))
    depth, height = g.depths()
    position = {n.layer[-1]: i for i, n in enumerate(g.nodes) if n.layer}
    # The skip path stem→add is shorter than stem→b1→b2→add: the longest counts.
    assert depth[position["add"]] == 4 and height[position["stem"]] == 3
    assert height[position["b1"]] == 2 and depth[position["b2"]] == 3


def test_functional_branches_merge_and_shared_layer():
    x = keras.Input((8, 8, 3), name="x")
    shared = L.Conv2D(3, 1, use_bias=False, name="shared")
    a = shared(x)
    b = shared(a)  # the same weights applied twice
    s = L.Add(name="add")([a, b])
    c = L.Concatenate(name="cat")([s, x])
    out = L.GlobalAveragePooling2D(name="gap")(c)
    model = keras.Model(x, out)
    g = graph_from_keras(model)
    assert _ops(g) == ["input", "conv", "conv", "sum", "concat", "glob_avg"]
    assert set(g.edges) == {(0, 1), (1, 2), (1, 3), (2, 3), (3, 4), (0, 4), (4, 5)}
    assert len(g.params) == 1 and g.params[0].node == 1  # shared kernel predicted once
    assert g.nodes[1].params == g.nodes[2].params == (0,)


def test_nested_model_is_inlined_with_paths():
    inner = keras.Sequential(
        [keras.Input((8, 8, 4)), L.DepthwiseConv2D(3, padding="same", name="dw")], name="block"
    )
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(4, 1, name="stem")(x)
    h = inner(h)
    y = L.Add()([h, L.Conv2D(4, 1, name="skip")(x)])
    model = keras.Model(x, y)
    g = graph_from_keras(model)
    assert ["/".join(p.layer) for p in g.params] == [
        "stem", "stem", "block/dw", "block/dw", "skip", "skip"
    ]  # fmt: skip
    dw = g.nodes[g.params[2].node]
    assert dw.op == "dw_conv" and dw.shape == (4, 1, 3, 3) and dw.groups == 4
    for var, param in zip(param_variables(model, g), g.params, strict=True):
        assert tuple(var.shape) == param.shape


def test_separable_and_dilated_conv():
    x = keras.Input((16, 16, 3))
    y = L.SeparableConv2D(8, 5, dilation_rate=2, depth_multiplier=2, name="sep")(x)
    g = graph_from_keras(keras.Model(x, y))
    assert _ops(g) == ["input", "dw_conv", "conv", "bias"]
    dw, pw = g.nodes[1], g.nodes[2]
    assert dw.shape == (6, 1, 5, 5) and dw.dilation == 2 and dw.groups == 3
    assert pw.shape == (8, 6, 1, 1)
    assert [p.attr for p in g.params] == ["depthwise_kernel", "pointwise_kernel", "bias"]


def test_tf_op_lambda_hard_swish_folds_and_merges():
    x = keras.Input((8, 8, 4))
    h = L.Conv2D(4, 1, use_bias=False)(x)
    gate = L.ReLU(6.0)(h + 3.0) * (1.0 / 6.0)  # TFOpLambda with one tensor: folded
    y = L.Multiply()([h, gate])
    z = h + y  # TFOpLambda with two tensors: a sum node
    g = graph_from_keras(keras.Model(x, z))
    assert _ops(g) == ["input", "conv", "mul", "sum"]
    assert set(g.edges) == {(0, 1), (1, 2), (1, 3), (2, 3)}
    assert g.nodes[1].folded == ("TFOpLambda", "ReLU", "TFOpLambda")


def test_unsupported_layers_are_all_named():
    class Custom(L.Layer):
        def call(self, inputs):
            return inputs * 2.0

    x = keras.Input((5, 3))
    h = L.LSTM(4, return_sequences=True, name="rnn")(x)
    y = Custom(name="mine")(h)
    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_keras(keras.Model(x, y))
    message = str(info.value)
    assert "'rnn' (LSTM)" in message and "'mine' (Custom)" in message
    assert "Supported layer types" in message and "SeparableConv2D" in message


def test_keras3_model_is_rejected():
    import keras as keras3

    model = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(2)])
    with pytest.raises(TypeError, match="Keras 3"):
        graph_from_keras(model)


def test_unbuilt_and_subclassed_models_are_rejected():
    with pytest.raises(ValueError, match="not built"):
        graph_from_keras(keras.Sequential([L.Dense(2)]))

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.fc = L.Dense(2)

        def call(self, x):
            return self.fc(x)

    net = Net()
    net(keras.ops.ones((1, 3)) if hasattr(keras, "ops") else __import__("numpy").ones((1, 3)))
    with pytest.raises(ValueError, match="subclassed"):
        graph_from_keras(net)
    with pytest.raises(TypeError, match="tf_keras.Model"):
        graph_from_keras("model.h5")
