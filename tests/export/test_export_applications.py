"""All ten `tf_keras.applications` export at 4 bits (slow)."""

import numpy as np
import pytest

from ghnq_tf._applications import APPLICATIONS
from ghnq_tf.export import export_tflite, interpreter, predict_tflite, weight_tensors
from ghnq_tf.quant import calibrate, quantize

NAMES = list(APPLICATIONS)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_application_exports_at_4_bits(application, name):
    model = application(name)
    side = model.input_shape[1]
    x = np.random.default_rng(0).uniform(0, 255, (16, side, side, 3)).astype("float32")
    qmodel = calibrate(quantize(model, bits=4), x, steps=1, batch_size=16)
    data = export_tflite(qmodel, representative_data=x[:4])
    kernels = weight_tensors(data)
    assert len(kernels) >= 10
    assert max(len(np.unique(k)) for k in kernels.values()) <= 15
    ops = [op["op_name"] for op in interpreter(data)._get_ops_details()]
    assert "FLEX" not in " ".join(ops)
    out = predict_tflite(data, x[:2])
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
