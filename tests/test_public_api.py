"""Pins the public API: `import ghnq_tf as gq` and what it exports."""

import ghnq_tf as gq

EXPECTED = sorted(
    [
        "GHN",
        "GHNTrainer",
        "ArchGraph",
        "OpNode",
        "ParamRef",
        "UnsupportedLayerError",
        "__version__",
        "calibrate",
        "data",
        "evaluate",
        "evaluate_tflite",
        "export",
        "export_tflite",
        "ghn_gradients",
        "graph",
        "graph_from_keras",
        "graphs_to_tensor",
        "predict",
        "predict_many",
        "quant",
        "quantize",
        "search_space",
        "tuning",
    ]
)


def test_public_api_is_pinned():
    assert sorted(gq.__all__) == EXPECTED
    for name in gq.__all__:
        assert hasattr(gq, name), name
