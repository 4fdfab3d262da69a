"""Quantization: tfmot N-bit fake-quant models, calibration, GHN variable mapping.

Example:
    from ghnq_tf import quant
    qmodel = quant.quantize(model, bits=4)
    quant.calibrate(qmodel, x_unlabeled, steps=8)
    targets = quant.target_variables(qmodel, model)
"""

from ghnq_tf.quant.bits import BitsSpec, parse_bits
from ghnq_tf.quant.calibration import calibrate
from ghnq_tf.quant.configs import OutputQuantizeConfig, WeightsQuantizeConfig
from ghnq_tf.quant.layers import UnsupportedLayerError, check_supported, supported_layer_types
from ghnq_tf.quant.quantize_model import quantize, quantize_scope
from ghnq_tf.quant.sites import QuantizerSite, quantizer_sites
from ghnq_tf.quant.tf_op_layer import ElementwiseOp
from ghnq_tf.quant.variables import target_variables

__all__ = [
    "BitsSpec",
    "ElementwiseOp",
    "OutputQuantizeConfig",
    "QuantizerSite",
    "UnsupportedLayerError",
    "WeightsQuantizeConfig",
    "calibrate",
    "check_supported",
    "parse_bits",
    "quantize",
    "quantize_scope",
    "quantizer_sites",
    "supported_layer_types",
    "target_variables",
]
