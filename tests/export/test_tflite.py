"""`export_tflite`: int8 TFLite, b-bit grids in int8 containers, parity, atomic writes."""

import os

import numpy as np
import pytest

from ghnq_tf.export import export_tflite, interpreter, predict_tflite, weight_tensors, write_atomic
from ghnq_tf.export.containers import REQUANTIZE_SCOPE, int8_containers
from ghnq_tf.quant import calibrate, quantize


@pytest.fixture(scope="module")
def exported(qmodels, images):
    cache = {}

    def get(bits):
        if bits not in cache:
            cache[bits] = export_tflite(qmodels(bits), representative_data=images[:16])
        return cache[bits]

    return get


@pytest.mark.parametrize("bits", [8, 4])
def test_one_xnnpack_partition(exported, bits):
    # Every op, including the requantizing identities, runs in XNNPACK.
    ops = interpreter(exported(bits))._get_ops_details()
    assert [op["op_name"] for op in ops].count("DELEGATE") == 1


def test_w8a8_is_full_integer(exported):
    it = interpreter(exported(8))
    assert it.get_input_details()[0]["dtype"] == np.int8
    assert it.get_output_details()[0]["dtype"] == np.int8
    ops = {op["op_name"] for op in it._get_ops_details()}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= ops
    assert not ops & {"DEQUANTIZE", "QUANTIZE"}
    float_tensors = [d["name"] for d in it.get_tensor_details() if d["dtype"] == np.float32]
    assert float_tensors == []


@pytest.mark.parametrize("bits", [4, 3, 2])
def test_weight_tensors_hold_the_b_bit_grid(exported, bits):
    kernels = weight_tensors(exported(bits))
    assert len(kernels) == 6  # conv1, dw, sep (2 halves), dilated, logits
    for name, kernel in kernels.items():
        assert kernel.dtype == np.int8
        levels = np.unique(kernel)
        assert len(levels) <= 2**bits - 1, name
        step = 127 // (2 ** (bits - 1) - 1)  # level n is stored as n * k
        assert np.all(levels % step == 0), name


@pytest.mark.parametrize("bits", [4, 3, 2])
def test_activations_use_2_to_the_b_levels(exported, images, bits):
    it = interpreter(exported(bits), experimental_preserve_all_tensors=True)
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], [32, 16, 16, 3])
    it.allocate_tensors()
    scale, zero_point = it.get_input_details()[0]["quantization"]
    x = np.clip(np.floor(images[:32] / scale + 0.5) + zero_point, -128, 127).astype(np.int8)
    it.set_tensor(inp["index"], x)
    it.invoke()
    details = it.get_tensor_details()
    fine = 255 // (2**bits - 1)
    checked = 0
    for op in it._get_ops_details():
        # Every activation a layer consumes holds at most 2^b int8 codes, j apart
        # (the requantizing identities consume the coarse tensors).
        if REQUANTIZE_SCOPE in details[op["outputs"][0]]["name"]:
            continue
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MEAN"):
            index = op["inputs"][0]
            codes = np.unique(it.get_tensor(index)).astype(int)
            assert len(codes) <= 2**bits, details[index]["name"]
            assert np.all((codes - codes[0]) % fine == 0), details[index]["name"]
            checked += 1
    assert checked == 7
    out = it.get_tensor(it.get_output_details()[0]["index"])
    assert len(np.unique(out)) <= 2**bits


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_parity_on_a_few_images(qmodels, exported, images, bits):
    qmodel = qmodels(bits)
    keras_out = qmodel(images[:32], training=False).numpy()
    with int8_containers(qmodel):
        container_out = qmodel(images[:32], training=False).numpy()
    # Same values up to float rounding (BN folded in a different order can move
    # a value lying on a rounding boundary to the neighbouring level).
    assert np.mean(np.abs(container_out - keras_out) <= 1e-5) >= 0.98
    lite_out = predict_tflite(exported(bits), images[:32])
    # Same output values on almost every element, same top-1 on (almost) all.
    assert np.mean(np.abs(lite_out - keras_out) <= 1e-5) >= (0.8 if bits == 8 else 0.95)
    assert np.mean(lite_out.argmax(-1) == keras_out.argmax(-1)) >= 0.95


def test_containers_restore_the_model(qmodels, images):
    qmodel = qmodels(4)
    before = qmodel(images[:4], training=False).numpy()
    quantizers = [type(q).__name__ for _, q, _ in qmodel.get_layer("quant_conv1")._weight_vars]
    with int8_containers(qmodel):
        pass
    assert [type(q).__name__ for _, q, _ in qmodel.get_layer("quant_conv1")._weight_vars] == (
        quantizers
    )
    assert "call" not in qmodel.get_layer("quant_bn1").layer.__dict__
    np.testing.assert_array_equal(qmodel(images[:4], training=False).numpy(), before)


def test_export_leaves_the_model_unchanged(float_model, images):
    qmodel = calibrate(quantize(float_model, bits=4), images, steps=1)
    before = qmodel(images[:8], training=False).numpy()
    export_tflite(qmodel, representative_data=images[:8])
    np.testing.assert_array_equal(qmodel(images[:8], training=False).numpy(), before)
    for layer in qmodel.layers:  # no traced `call` left behind by SavedModel tracing
        assert "call" not in layer.__dict__, layer.name
        assert "call" not in getattr(layer, "layer", layer).__dict__, layer.name
    with int8_containers(qmodel):
        container = qmodel(images[:8], training=False).numpy()
    assert np.mean(np.abs(container - before) <= 1e-5) >= 0.98


def test_float_io(qmodels, images):
    data = export_tflite(qmodels(4), representative_data=images[:8], integer_io=False)
    it = interpreter(data)
    assert it.get_input_details()[0]["dtype"] == np.float32
    out = predict_tflite(data, images[:4])
    assert out.shape == (4, 10)


def test_atomic_write(qmodels, images, tmp_path):
    path = tmp_path / "model.tflite"
    data = export_tflite(qmodels(8), representative_data=images[:8], path=path)
    assert path.read_bytes() == data
    # A failing write keeps the old file and leaves no temporary file behind.
    with pytest.raises(TypeError):
        write_atomic(path, "not bytes")
    assert path.read_bytes() == data
    assert os.listdir(tmp_path) == ["model.tflite"]


def test_errors(float_model, images):
    with pytest.raises(ValueError, match="quantize-aware model"):
        export_tflite(float_model, representative_data=images)
    uncalibrated = quantize(float_model, bits=4)
    with pytest.raises(ValueError, match="calibrate the model before exporting"):
        export_tflite(uncalibrated, representative_data=images)
    with pytest.raises(TypeError, match="`representative_data` must be"):
        export_tflite(uncalibrated, representative_data="images")
