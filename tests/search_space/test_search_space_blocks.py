"""The block family: specs, validation, cost, Keras models, graphs, quantization, GHN."""

import copy
import json
import statistics

import numpy as np
import pytest

import ghnq_tf as gq
from ghnq_tf import search_space as ss
from ghnq_tf._keras import keras, tf
from ghnq_tf.search_space.blocks import (
    ACTIVATIONS,
    BLOCK_KEYS,
    BLOCKS,
    STAGE_KEYS,
)
from ghnq_tf.search_space.blocks_cost import cost
from ghnq_tf.search_space.blocks_sampling import BlocksSpace
from ghnq_tf.search_space.summary import model_stats, num_units

# Every block kind once, with every option: separable + dilated convs, SE with
# a sigmoid gate (relu) and a hard-sigmoid gate (hard_swish), projection and
# identity shortcuts, expansion 1 and 6, a dense stage at stride 2, a head conv.
ALL_BLOCKS = {
    "version": 1,
    "family": "blocks",
    "stem": 8,
    "bn": True,
    "head": 32,
    "stages": [
        {"block": "vgg", "width": 8, "depth": 2, "stride": 1, "activation": "relu",
         "kernel": 3, "dilation": 2, "separable": True},
        {"block": "basic", "width": 16, "depth": 2, "stride": 2, "activation": "relu",
         "kernel": 3, "dilation": 2, "separable": False, "se": True},
        {"block": "bottleneck", "width": 32, "depth": 1, "stride": 1, "activation": "relu6",
         "kernel": 5, "dilation": 1, "expand": 4, "se": False},
        {"block": "inverted", "width": 24, "depth": 2, "stride": 2, "activation": "relu6",
         "kernel": 3, "expand": 6},
        {"block": "mbconv", "width": 24, "depth": 2, "stride": 1, "activation": "hard_swish",
         "kernel": 5, "expand": 1, "se": True},
        {"block": "dense", "width": 16, "depth": 2, "stride": 2, "activation": "swish",
         "kernel": 3, "growth": 8},
    ],
}  # fmt: skip

SHAPE = (16, 16, 3)


def _bn_free(spec):
    return {**copy.deepcopy(spec), "bn": False}


@pytest.fixture(scope="module")
def all_blocks_model():
    return ss.build(ALL_BLOCKS, input_shape=SHAPE, num_classes=5)


@pytest.fixture(scope="module")
def ghn():
    return gq.GHN()


@pytest.fixture(scope="module")
def zoo_specs():
    return ss.sample(500, seed=7, space="blocks")


def _check_graph_quantize_predict(model, ghn, classes):
    graph = gq.graph_from_keras(model)  # raises if a trainable variable has no node
    assert sorted(p.name for p in graph.params) == sorted(v.name for v in model.trainable_variables)
    # gq.quantize at 4 bits, then the GHN's tensors are assigned to the
    # quantized model's variables (an error if any shape differs).
    qmodel = gq.predict(model, bits=4, ghn=ghn)
    x = np.zeros((2, *model.input_shape[1:]), "float32")
    out = qmodel(x)
    assert out.shape == (2, classes) and np.isfinite(out.numpy()).all()


def test_hand_spec_covers_every_block_and_option():
    stages = ALL_BLOCKS["stages"]
    assert {s["block"] for s in stages} == set(BLOCKS)
    assert {s["activation"] for s in stages} == set(ACTIVATIONS)
    assert any(s.get("separable") for s in stages) and any(s.get("dilation") == 2 for s in stages)
    assert {s["activation"] for s in stages if s.get("se")} == {"relu", "hard_swish"}
    ss.validate_spec(ALL_BLOCKS)
    assert ss.family_of(ALL_BLOCKS) == "blocks" and ss.family_of(ss.split("val")[0]) == "darts"


def test_forward_backward_reaches_every_parameter(all_blocks_model):
    x = tf.random.stateless_normal((2, *SHAPE), seed=(1, 2))
    with tf.GradientTape() as tape:
        logits = all_blocks_model(x, training=True)
        loss = tf.reduce_sum(logits**2)
    assert logits.shape == (2, 5)
    grads = tape.gradient(loss, all_blocks_model.trainable_variables)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


def test_layers_and_names(all_blocks_model):
    model = all_blocks_model
    names = [layer.name for layer in model.layers]
    assert all("/" not in name for name in names)
    assert model.name == "net_" + ss.spec_hash(ALL_BLOCKS)[:12]
    sep = model.get_layer("stage0.block1.conv")
    assert isinstance(sep, keras.layers.SeparableConv2D) and sep.dilation_rate == (2, 2)
    # A strided block's first conv is not dilated; the stride-1 convs are.
    assert model.get_layer("stage1.block0.conv1").strides == (2, 2)
    assert model.get_layer("stage1.block0.conv1").dilation_rate == (1, 1)
    assert model.get_layer("stage1.block0.conv2").dilation_rate == (2, 2)
    assert model.get_layer("stage1.block0.proj.conv").kernel_size == (1, 1)
    assert "stage1.block1.proj.conv" not in names  # identity shortcut
    assert "stage2.block0.proj.conv" in names  # 16 -> 32 channels at stride 1
    assert isinstance(model.get_layer("stage1.block0.se.mul"), keras.layers.Multiply)
    assert model.get_layer("stage1.block0.se.gate").activation.__name__ == "sigmoid"
    assert model.get_layer("stage4.block0.se.gate.relu6").max_value == 6.0  # hard sigmoid
    assert isinstance(model.get_layer("stage4.block0.dw.act"), keras.layers.Multiply)  # h-swish
    assert model.get_layer("stage3.block0.dw.act").max_value == 6.0
    assert "stage3.block0.add" not in names and "stage3.block1.add" in names
    assert "stage4.block0.expand.conv" not in names  # expansion 1
    assert model.get_layer("stage3.block0.expand.conv").filters == 32 * 6
    assert model.get_layer("stage5.block1.concat").output_shape[-1] == 16 + 2 * 8
    assert model.get_layer("stage5.transition.pool").output_shape[1:3] == (2, 2)
    assert model.get_layer("head.conv").filters == 32
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    # With batch norm only the SE convs carry a bias.
    assert {layer.name.split(".")[-2] for layer in convs if layer.use_bias} == {"se"}


def test_bn_free_spec_has_no_batch_norm_and_uses_biases():
    model = ss.build(_bn_free(ALL_BLOCKS), input_shape=SHAPE, num_classes=5)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(layer.use_bias for layer in convs)


@pytest.mark.parametrize("bn", [True, False])
def test_cost_model_matches_the_built_model(bn, all_blocks_model):
    spec = ALL_BLOCKS if bn else _bn_free(ALL_BLOCKS)
    model = all_blocks_model if bn else ss.build(spec, input_shape=SHAPE, num_classes=5)
    stats = model_stats(model)
    assert (stats["flops"], stats["params"]) == cost(spec, input_shape=SHAPE, num_classes=5)
    assert stats["flops"] == ss.macs(spec, input_shape=SHAPE, num_classes=5)


def test_all_blocks_graph_quantize_and_predict(all_blocks_model, ghn):
    _check_graph_quantize_predict(all_blocks_model, ghn, 5)


@pytest.mark.parametrize("block", BLOCKS)
def test_sampled_specs_of_each_block_build_quantize_and_predict(block, ghn):
    # Small draws (two stages, one or two blocks each) keep the test fast.
    space = BlocksSpace(blocks=(block,), mixed_prob=0.0, num_stages=(2, 2), depth=(1, 2), head=(0,))
    (spec,) = ss.sample(1, seed=3, space=space)
    assert {stage["block"] for stage in spec["stages"]} == {block}
    model = ss.build(spec, input_shape=SHAPE, num_classes=3)
    stats = model_stats(model)
    assert (stats["flops"], stats["params"]) == cost(spec, input_shape=SHAPE, num_classes=3)
    _check_graph_quantize_predict(model, ghn, 3)


def test_specs_are_json_round_trippable_and_deterministic(zoo_specs):
    assert ss.sample(20, seed=7, space="blocks") == zoo_specs[:20]
    assert ss.sample(20, seed=8, space="blocks") != zoo_specs[:20]
    for spec in zoo_specs[:50]:
        back = json.loads(json.dumps(spec))
        assert back == spec and ss.spec_hash(back) == ss.spec_hash(spec)


def test_first_blocks_spec_is_pinned():
    assert ss.spec_hash(ss.sample(1, seed=0, space="blocks")[0]) == (
        "85e29431f7e7ae49e7f0ef0647f18857ed17034ab2b6770ba52ee74d276c0dd0"
    )


def test_sampled_specs_respect_the_space(zoo_specs):
    space = ss.SPACES["blocks"]
    assert len({ss.spec_hash(spec) for spec in zoo_specs}) == len(zoo_specs)
    for spec in zoo_specs:
        ss.validate_spec(spec)
        assert space.num_stages[0] <= len(spec["stages"]) <= space.num_stages[1]
        assert spec["stages"][0]["stride"] == 1
        for stage in spec["stages"]:
            assert set(stage) == set(STAGE_KEYS + BLOCK_KEYS[stage["block"]])
            assert 16 <= stage["width"] <= 128
            assert space.depth[0] <= stage["depth"] <= space.depth[1]
        macs, params = cost(spec)
        assert macs <= space.max_macs and params <= space.max_params


def test_the_family_is_cpu_sized(zoo_specs):
    macs = [cost(spec)[0] for spec in zoo_specs]
    params = [cost(spec)[1] for spec in zoo_specs]
    # The training pool is filtered at 50 M MACs: most of the family passes.
    assert sum(m <= 50_000_000 for m in macs) / len(macs) >= 0.8
    assert statistics.median(macs) < 35_000_000
    assert statistics.median(params) < 300_000 and max(params) <= 2_000_000


def test_sampling_covers_every_value(zoo_specs):
    stages = [stage for spec in zoo_specs for stage in spec["stages"]]
    assert {s["block"] for s in stages} == set(BLOCKS)
    assert {s["activation"] for s in stages} == set(ACTIVATIONS)
    assert {s["kernel"] for s in stages} == {3, 5}
    assert {s["stride"] for s in stages} == {1, 2}
    assert {s["dilation"] for s in stages if "dilation" in s} == {1, 2}
    assert {s["separable"] for s in stages if "separable" in s} == {True, False}
    assert {s["se"] for s in stages if "se" in s} == {True, False}
    assert {s["growth"] for s in stages if "growth" in s} == {8, 12, 16, 24}
    assert {len(spec["stages"]) for spec in zoo_specs} == {2, 3, 4}
    assert {spec["head"] for spec in zoo_specs} == {0, 128, 256}
    assert 0.85 < sum(spec["bn"] for spec in zoo_specs) / len(zoo_specs) < 0.95
    mixed = sum(len({s["block"] for s in spec["stages"]}) > 1 for spec in zoo_specs)
    assert 0.1 < mixed / len(zoo_specs) < 0.4


def test_custom_space_and_its_errors():
    space = BlocksSpace(blocks=("vgg",), num_stages=(2, 2), bn_prob=0.0, head=(0,))
    specs = ss.sample(3, seed=0, space=space)
    assert all(len(s["stages"]) == 2 and not s["bn"] and s["head"] == 0 for s in specs)
    for kwargs, match in [
        ({"blocks": ("vit",)}, "`blocks` must be a non-empty subset"),
        ({"num_stages": (3, 2)}, "`num_stages`"),
        ({"num_stages": (1, 9)}, "at most 6"),
        ({"stem": ()}, "`stem`"),
        ({"mixed_prob": 2.0}, "`mixed_prob` must be in"),
        ({"max_params": -1}, "`max_params`"),
    ]:
        with pytest.raises(ValueError, match=match):
            BlocksSpace(**kwargs)
    with pytest.raises(ValueError, match="max_macs"):
        ss.sample(1, seed=0, space=BlocksSpace(max_macs=10))


def _with(path, value):
    spec = copy.deepcopy(ALL_BLOCKS)
    target = spec
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return spec


_DELETE = object()


@pytest.mark.parametrize(
    "path, value, match",
    [
        (("family",), "darts", r"`family` must be 'blocks' \(DARTS-cell specs have no `family`"),
        (("version",), 2, r"`version` must be 1. Received: version=2"),
        (("stem",), 0, r"`stem` must be an int in \[1, 512\]. Received: stem=0"),
        (("bn",), 1, r"`bn` must be a bool. Received: bn=1"),
        (("head",), -1, r"`head` must be an int in \[0, 512\] \(0: no head conv\)"),
        (("stages",), [], r"`stages` must be a list of 1 to 6 stage dicts"),
        (("head",), _DELETE, r"`spec` is missing the key\(s\) \['head'\]"),
        (("width",), 8, r"`spec` has unknown key\(s\) \['width'\]"),
        (("stages", 0), "vgg", r"`stages\[0\]` must be a dict"),
        (
            ("stages", 0, "block"),
            "vit",
            r"`stages\[0\].block` must be one of \('vgg', 'basic', 'bottleneck', 'inverted', "
            r"'mbconv', 'dense'\). Received: stages\[0\].block='vit'",
        ),
        (("stages", 1, "width"), 0, r"`stages\[1\].width` must be an int in \[1, 512\]"),
        (("stages", 1, "depth"), 9, r"`stages\[1\].depth` must be an int in \[1, 8\]"),
        (("stages", 1, "stride"), 3, r"`stages\[1\].stride` must be 1 or 2. Received: "),
        (("stages", 1, "kernel"), 7, r"`stages\[1\].kernel` must be one of \(3, 5\)"),
        (("stages", 1, "dilation"), 4, r"`stages\[1\].dilation` must be one of \(1, 2\)"),
        (("stages", 1, "se"), 1, r"`stages\[1\].se` must be a bool. Received: stages\[1\].se=1"),
        (("stages", 0, "separable"), "yes", r"`stages\[0\].separable` must be a bool"),
        (
            ("stages", 3, "activation"),
            "swish",
            r"`stages\[3\].activation` must be one of \('relu6', 'relu'\) for 'inverted' blocks",
        ),
        (("stages", 4, "activation"), "gelu", r"`stages\[4\].activation` must be one of"),
        (("stages", 3, "expand"), 2, r"`stages\[3\].expand` must be one of \(1, 3, 4, 6\)"),
        (("stages", 2, "width"), 30, r"`stages\[2\].width` must be a multiple of expand=4"),
        (("stages", 5, "growth"), 0, r"`stages\[5\].growth` must be an int in"),
        (("stages", 3, "se"), True, r"`stages\[3\]` has unknown key\(s\) \['se'\]"),
        (("stages", 4, "se"), _DELETE, r"`stages\[4\]` is missing the key\(s\) \['se'\]"),
    ],
)
def test_validate_spec_names_the_bad_key(path, value, match):
    with pytest.raises(ValueError, match=match):
        ss.validate_spec(_with(path, value))


def test_darts_specs_are_unchanged_by_the_family():
    spec = ss.split("val")[0]
    assert "family" not in spec and ss.family_of(spec) == "darts"
    assert ss.sample(3, seed=1) == ss.split("val", 3)


def test_num_units_counts_blocks():
    assert num_units(ALL_BLOCKS) == 2 + 2 + 1 + 2 + 2 + 2
    assert num_units(ss.split("val")[0]) == ss.split("val")[0]["num_cells"]
