"""Building Keras models from specs: determinism, structure, every op, shapes."""

import numpy as np
import pytest

from ghnq_tf import search_space as ss
from ghnq_tf._keras import keras, tf
from ghnq_tf.search_space.cost import macs
from ghnq_tf.search_space.ops import EDGE_OPS
from ghnq_tf.search_space.summary import model_stats

# A small hand-written spec that uses every op, in normal and reduction cells,
# with two reduction cells in a row (cells 1 and 2).
ALL_OPS = {
    "version": 1,
    "width": 8,
    "num_cells": 4,
    "num_nodes": 4,
    "bn": True,
    "normal": [
        [["conv_1x1", 0], ["sep_conv_3x3", 1]],
        [["conv_3x3", 0], ["dil_conv_3x3", 2]],
        [["max_pool_3x3", 1], ["skip_connect", 3]],
        [["avg_pool_3x3", 2], ["sep_conv_5x5", 4]],
    ],
    "reduce": [
        [["dil_conv_5x5", 1], ["skip_connect", 0]],
        [["conv_5x5", 1], ["max_pool_3x3", 2]],
        [["avg_pool_3x3", 0], ["sep_conv_3x3", 3]],
        [["conv_3x3", 1], ["skip_connect", 4]],
    ],
    "reductions": [1, 2],
}


@pytest.fixture(scope="module")
def all_ops_model():
    return ss.build(ALL_OPS)


def _signature(model):
    return [(layer.name, type(layer).__name__) for layer in model.layers], [
        (w.name, tuple(w.shape)) for w in model.weights
    ]


def test_hand_spec_uses_every_op():
    used = {op for key in ("normal", "reduce") for node in ALL_OPS[key] for op, _ in node}
    assert used == set(EDGE_OPS)


def test_build_is_deterministic(all_ops_model):
    assert _signature(ss.build(ALL_OPS)) == _signature(all_ops_model)
    spec = ss.split("val")[0]
    assert _signature(ss.build(spec)) == _signature(ss.build(spec))


def test_output_shape_and_forward_backward(all_ops_model):
    x = tf.random.stateless_normal((3, 32, 32, 3), seed=(1, 2))
    assert all_ops_model.output_shape == (None, 10)
    with tf.GradientTape() as tape:
        logits = all_ops_model(x, training=True)
        loss = tf.reduce_sum(logits**2)
    assert logits.shape == (3, 10)
    grads = tape.gradient(loss, all_ops_model.trainable_variables)
    # Every parameter is on a path to the output.
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


def test_layer_names_and_structure(all_ops_model):
    names = [layer.name for layer in all_ops_model.layers]
    assert all("/" not in name for name in names)
    for name in [
        "stem.conv",
        "stem.bn",
        "cell0.pre0.conv",
        "cell0.node0.sep_conv_3x3_from1.conv",
        "cell0.node1.dil_conv_3x3_from2.dwconv",
        "cell0.node1.dil_conv_3x3_from2.conv",
        "cell0.node2.max_pool_3x3_from1",
        "cell0.node3.sum",
        "cell0.concat",
        "cell1.node0.skip_connect_from0.conv",
        "head.relu",
        "head.gap",
        "head.dense",
    ]:
        assert name in names, name
    # Identity skips have no layer; stride-2 skips are a 1x1 conv.
    assert "cell0.node2.skip_connect_from3.conv" not in names
    skip = all_ops_model.get_layer("cell1.node0.skip_connect_from0.conv")
    assert skip.kernel_size == (1, 1) and skip.strides == (2, 2)
    dil = all_ops_model.get_layer("cell1.node0.dil_conv_5x5_from1.dwconv")
    assert dil.dilation_rate == (2, 2) and dil.strides == (1, 1)
    assert all_ops_model.get_layer("cell1.node0.dil_conv_5x5_from1.conv").strides == (2, 2)
    assert isinstance(
        all_ops_model.get_layer("cell0.node0.sep_conv_3x3_from1.conv"),
        keras.layers.SeparableConv2D,
    )
    # With batch norm, convolutions have no bias.
    convs = [layer for layer in all_ops_model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and not any(layer.use_bias for layer in convs)
    assert all_ops_model.name == "net_" + ss.spec_hash(ALL_OPS)[:12]


def test_cells_double_channels_and_halve_size_at_reductions(all_ops_model):
    def shape(name):
        return tuple(all_ops_model.get_layer(name).output_shape[1:])

    # Cell outputs concatenate 4 nodes; C = 8, 16 (cell 1), 32 (cell 2), 32.
    assert shape("cell0.concat") == (32, 32, 4 * 8)
    assert shape("cell1.concat") == (16, 16, 4 * 16)
    assert shape("cell2.concat") == (8, 8, 4 * 32)
    assert shape("cell3.concat") == (8, 8, 4 * 32)
    # Cell 2 follows a reduction: its older input is reduced by the preprocess.
    assert all_ops_model.get_layer("cell2.pre0.conv").strides == (2, 2)
    assert all_ops_model.get_layer("cell3.pre0.conv").strides == (2, 2)


def test_bn_free_spec_has_no_batch_norm_and_uses_biases():
    spec = ss.split("bnfree")[0]
    model = ss.build(spec)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(layer.use_bias for layer in convs if "dwconv" not in layer.name)


def test_other_input_shapes_and_class_counts():
    spec = ss.split("val")[3]
    model = ss.build(spec, input_shape=(9, 9, 1), num_classes=4, name="tiny")
    assert model.name == "tiny"
    assert model.output_shape == (None, 4)
    assert model(np.zeros((2, 9, 9, 1), "float32")).shape == (2, 4)
    # 9 -> 5 -> 3 with "same" padding at the two reductions.
    last = spec["num_cells"] - 1
    assert model.get_layer(f"cell{last}.concat").output_shape[1:3] == (3, 3)


def test_every_cell_is_on_the_path_to_the_output():
    # Keras drops layers that do not reach the output; no sampled cell may be
    # cut off (each genotype reads the previous cell).
    for spec in ss.split("test", 3):
        names = {layer.name for layer in ss.build(spec).layers}
        assert {f"cell{i}.concat" for i in range(spec["num_cells"])} <= names


@pytest.mark.parametrize("index", [0, 1, 2])
def test_cost_model_matches_the_built_model(index):
    spec = ss.split("test")[index]
    model = ss.build(spec, input_shape=(16, 16, 3), num_classes=7)
    assert model_stats(model)["flops"] == macs(spec, input_shape=(16, 16, 3), num_classes=7)


def test_cost_model_matches_on_every_op(all_ops_model):
    assert model_stats(all_ops_model)["flops"] == macs(ALL_OPS)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (32, 32)}, r"`input_shape` must be a \(height, width, channels\)"),
        ({"input_shape": (32, 0, 3)}, r"Received: input_shape=\(32, 0, 3\)"),
        ({"num_classes": 0}, r"`num_classes` must be a positive int. Received: num_classes=0"),
    ],
)
def test_build_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ss.build(ALL_OPS, **kwargs)


def test_build_rejects_invalid_specs():
    with pytest.raises(ValueError, match="`width`"):
        ss.build({**ALL_OPS, "width": 0})


def test_one_node_cells_build_without_a_concatenate_and_quantize():
    # validate_spec accepts num_nodes=1; such a cell's output is its one node
    # (a 1-input Concatenate is not quantizable by tfmot).
    import ghnq_tf as gq

    spec = {
        **ALL_OPS,
        "num_nodes": 1,
        "normal": [[["conv_3x3", 0], ["skip_connect", 1]]],
        "reduce": [[["sep_conv_3x3", 1], ["max_pool_3x3", 0]]],
    }
    ss.validate_spec(spec)
    model = ss.build(spec, input_shape=(16, 16, 3), num_classes=5)
    assert not any(isinstance(layer, keras.layers.Concatenate) for layer in model.layers)
    assert model_stats(model)["flops"] == macs(spec, input_shape=(16, 16, 3), num_classes=5)
    quantized = gq.quantize(model, bits=4)
    assert quantized(np.zeros((2, 16, 16, 3), "float32")).shape == (2, 5)
