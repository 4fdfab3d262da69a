"""One `UnsupportedLayerError` and one list of supported layer types."""

import ghnq_tf as gq
from ghnq_tf.graph import layer_rules
from ghnq_tf.quant import layers


def test_one_error_class():
    assert gq.UnsupportedLayerError is gq.graph.UnsupportedLayerError
    assert gq.UnsupportedLayerError is gq.quant.UnsupportedLayerError
    assert issubclass(gq.UnsupportedLayerError, ValueError)


def test_one_list_of_supported_layer_types():
    assert gq.quant.supported_layer_types is gq.graph.supported_layer_types
    assert "SeparableConv2D" in gq.graph.supported_layer_types()


def test_every_supported_layer_type_is_quantized():
    quantized = set(layers.WEIGHTED + layers.TFMOT_NATIVE + layers.OUTPUT_QUANTIZED)
    quantized |= set(layers.PASS_THROUGH)
    missing = [cls.__name__ for cls, _ in layer_rules.RULES if cls not in quantized]
    assert not missing
    symbols = set(layer_rules._TF_OP_MERGES) | set(layer_rules._TF_OP_UNARY)
    assert symbols <= layers.TF_OP_SYMBOLS
