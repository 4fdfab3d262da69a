"""All ten `tf_keras.applications` quantize at 8, 4 and 2 bits (slow)."""

import numpy as np
import pytest
from quant_models import count_kernels

from ghnq_tf._applications import APPLICATIONS
from ghnq_tf.quant import quantize, quantizer_sites, target_variables

NAMES = list(APPLICATIONS)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_application_quantizes(application, name):
    model = application(name)
    side = model.input_shape[1]
    x = np.random.default_rng(0).uniform(0, 255, (2, side, side, 3)).astype("float32")
    for bits in (8, 4, 2):
        qmodel = quantize(model, bits=bits)
        sites = quantizer_sites(qmodel)
        assert {s.num_bits for s in sites} == {bits}
        assert sum(s.kind == "weight" for s in sites) == count_kernels(model)
        assert qmodel(x, training=False).shape == (2, 10)
    n_trainable = len(model.trainable_weights)
    assert len(target_variables(qmodel, model)) == n_trainable
