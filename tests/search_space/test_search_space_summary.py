"""Parameter, FLOP and depth statistics of specs and splits."""

import io
import statistics

import pytest

from ghnq_tf import search_space as ss
from ghnq_tf._keras import keras
from ghnq_tf.search_space.summary import layer_flops, longest_path, model_stats


def _tiny_model():
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(inputs)  # 8*8*9*3*4 = 6912
    b = keras.layers.SeparableConv2D(6, 3, strides=2, padding="same", name="b")(a)
    # b: 4*4*(9*4 + 4*6) = 960
    c = keras.layers.DepthwiseConv2D(3, padding="same", name="c")(b)  # 4*4*9*6 = 864
    skip = keras.layers.MaxPooling2D(2, name="pool")(a)
    skip = keras.layers.Conv2D(6, 1, name="d")(skip)  # 4*4*4*6 = 384
    x = keras.layers.Add(name="add")([c, skip])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(5, name="dense")(x)  # 6*5 = 30
    return keras.Model(inputs, outputs)


def test_layer_flops_and_longest_path_on_a_known_model():
    model = _tiny_model()
    flops = {layer.name: layer_flops(layer) for layer in model.layers[1:]}  # skip the input
    assert flops == {
        "a": 6912,
        "b": 960,
        "c": 864,
        "pool": 0,
        "d": 384,
        "add": 0,
        "gap": 0,
        "dense": 30,
    }
    # a -> b -> c -> dense is the longest conv/dense path (a -> d -> dense is 3).
    assert longest_path(model) == 4
    stats = model_stats(model)
    assert stats["flops"] == 6912 + 960 + 864 + 384 + 30
    assert stats["params"] == model.count_params()


def test_summarize_matches_per_model_numbers():
    specs = ss.split("val", 3)
    models = [ss.build(spec) for spec in specs]
    params = [sum(w.shape.num_elements() for w in m.trainable_weights) for m in models]
    summary = ss.summarize(specs)
    assert summary["num_specs"] == 3
    assert summary["params"] == {
        "min": min(params),
        "median": statistics.median(params),
        "mean": statistics.fmean(params),
        "max": max(params),
    }
    assert summary["flops"]["max"] == max(ss.macs(spec) for spec in specs)
    assert summary["cells"]["min"] == min(spec["num_cells"] for spec in specs)
    # Every cell holds at least one conv on the way out (its 1x1 preprocess).
    assert summary["depth"]["min"] >= summary["cells"]["min"] + 2


def test_print_summary_of_a_split_and_of_specs():
    out = io.StringIO()
    summary = ss.print_summary("deep", n=2, file=out)
    text = out.getvalue()
    assert 'split "deep": 2 networks, input 32x32x3, 10 classes' in text
    for row in ("params", "flops", "cells", "depth", "median"):
        assert row in text
    assert summary["cells"]["min"] >= 12
    out = io.StringIO()
    ss.print_summary(ss.split("bnfree", 1), input_shape=(8, 8, 1), num_classes=3, file=out)
    assert "specs: 1 networks, input 8x8x1, 3 classes" in out.getvalue()


def test_summary_errors():
    with pytest.raises(ValueError, match="`specs` must be a non-empty list"):
        ss.summarize([])
    with pytest.raises(ValueError, match="`specs` must be a non-empty list"):
        ss.summarize(ss.split("val")[0])
    with pytest.raises(ValueError, match="`n` only applies to a split name"):
        ss.print_summary(ss.split("val", 1), n=1)
    with pytest.raises(ValueError, match="`name` must be one of"):
        ss.print_summary("nope")
