"""TFLite export and LiteRT evaluation of quantize-aware models.

Example:
    from ghnq_tf import export
    data = export.export_tflite(qmodel, representative_data=x[:100])
    export.evaluate_tflite(data, (x_test, y_test))
"""

from ghnq_tf.export.containers import int8_containers
from ghnq_tf.export.litert import evaluate_tflite, interpreter, predict_tflite, weight_tensors
from ghnq_tf.export.tflite import export_tflite, write_atomic

__all__ = [
    "evaluate_tflite",
    "export_tflite",
    "int8_containers",
    "interpreter",
    "predict_tflite",
    "weight_tensors",
    "write_atomic",
]
