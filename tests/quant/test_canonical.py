"""The flat copy of a model computes exactly what the model computes."""

import numpy as np
import pytest
from quant_models import conv_bn_model, nested_model, pass_through_model, repeated_input_model

from ghnq_tf._keras import keras
from ghnq_tf.quant.canonical import build_canonical, has_repeated_inputs, make_plan
from ghnq_tf.quant.tf_op_layer import ElementwiseOp

L = keras.layers


@pytest.mark.parametrize(
    "builder", [conv_bn_model, nested_model, pass_through_model, repeated_input_model]
)
def test_flat_model_is_exact(builder, images):
    model = builder()
    flat, _ = build_canonical(model)
    x = images[:8] * 255.0
    np.testing.assert_array_equal(flat(x).numpy(), model(x).numpy())
    assert not any(isinstance(layer, keras.Model) for layer in flat.layers)
    assert not any(type(layer) is L.SeparableConv2D for layer in flat.layers)
    assert not any(type(layer).__name__ == "TFOpLambda" for layer in flat.layers)


def test_tf_op_lambdas_become_elementwise_ops():
    flat, _ = build_canonical(pass_through_model())
    ops = [layer for layer in flat.layers if isinstance(layer, ElementwiseOp)]
    assert sorted(op.symbol for op in ops) == [
        "__operators__.add",
        "__operators__.add",
        "math.multiply",
        "nn.relu6",
    ]
    config = ops[0].get_config()
    assert ElementwiseOp.from_config(config).get_config() == config


def test_plan_names():
    plan = make_plan(nested_model())
    assert plan.layers["block/conv"] == ["block.conv_depthwise", "block.conv_pointwise"]
    assert plan.weights[("block/conv", "pointwise_kernel")] == ("block.conv_pointwise", "kernel")
    assert plan.weights[("stem/bn", "gamma")] == ("stem.bn", "gamma")
    assert plan.order[0] == "stem/conv"


def test_shared_layer_stays_shared(images):
    inputs = keras.Input((16, 16, 3))
    conv = L.Conv2D(3, 3, padding="same", name="shared")
    model = keras.Model(inputs, conv(conv(inputs)))
    flat, _ = build_canonical(model)
    assert [layer.name for layer in flat.layers].count("shared") == 1
    np.testing.assert_array_equal(flat(images[:2]).numpy(), model(images[:2]).numpy())


def test_repeated_inputs_pass_through_identity():
    flat, _ = build_canonical(repeated_input_model())
    inbound = {
        layer.name: [src.name for src in layer.inbound_nodes[0].inbound_layers]
        for layer in flat.layers
        if layer.name in ("cat", "add")
    }
    assert inbound == {"cat": ["conv_a", "cat.repeat1", "conv_b"], "add": ["conv_c", "add.repeat1"]}
    assert type(flat.get_layer("cat.repeat1")) is L.Identity


def test_has_repeated_inputs_until_split():
    model = repeated_input_model()
    assert has_repeated_inputs(model)
    assert not has_repeated_inputs(build_canonical(model)[0])
    assert not has_repeated_inputs(conv_bn_model())
