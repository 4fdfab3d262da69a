"""The ten tf_keras.applications models convert with exact parameter shapes."""

import numpy as np
import pytest

from ghnq_tf.graph import graph_from_keras, graphs_to_tensor, param_variables

# (constructor, input side, node count). Node counts were produced by
# graph_from_keras at ghnq_tf 0.1.0 (tf_keras 2.21.0) and are pinned to catch
# regressions; they are plausible by construction: e.g. VGG16 = input + 13
# conv + 13 bias + 5 max_pool + 3 linear + 3 bias = 38.
APPLICATIONS = [
    ("MobileNet", 32, 58),
    ("MobileNetV2", 32, 118),
    ("MobileNetV3Small", 32, 153),
    ("ResNet50", 32, 180),
    ("ResNet50V2", 32, 147),
    ("DenseNet121", 32, 307),
    ("EfficientNetB0", 32, 207),
    ("NASNetMobile", 32, 712),
    ("VGG16", 32, 38),
    ("Xception", 71, 134),  # Xception's minimum input size
]


@pytest.mark.parametrize(
    ("name", "side", "num_nodes"), APPLICATIONS, ids=[a[0] for a in APPLICATIONS]
)
def test_application_converts_with_exact_shapes(application, name, side, num_nodes):
    model = application(name)
    assert model.input_shape[1] == side
    graph = graph_from_keras(model)
    assert graph.num_nodes == num_nodes
    variables = param_variables(model, graph)
    for var, param in zip(variables, graph.params, strict=True):
        assert tuple(var.shape) == param.shape, param
    # Every trainable variable is predicted exactly once.
    assert sorted(id(v) for v in variables) == sorted(id(v) for v in model.trainable_variables)
    assert graph.num_weights == sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    # One output node: the classifier's bias (after its folded softmax / reshape).
    out = [n for n in graph.nodes if n.is_output]
    assert len(out) == 1 and out[0].op == "bias" and out[0].shape[0] == 10
    # Every edge goes forward in node order (topological), and the graph is connected.
    assert all(src < dst for src, dst in graph.edges)
    assert {d for _, d in graph.edges} == set(range(1, graph.num_nodes))
    gt = graphs_to_tensor(graph, bits=4)
    assert int(gt.node_sets["ops"].sizes[0]) == num_nodes
