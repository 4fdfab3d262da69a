"""LiteRT evaluation: accuracy on arrays and datasets, predictions."""

import numpy as np
import pytest

from ghnq_tf._keras import tf
from ghnq_tf.export import evaluate_tflite, export_tflite, predict_tflite


@pytest.fixture(scope="module")
def data(qmodels, images):
    return export_tflite(qmodels(8), representative_data=images[:16])


@pytest.fixture(scope="module")
def labels(data, images):
    # Labels equal to the TFLite predictions on even images, shifted on odd ones.
    pred = predict_tflite(data, images).argmax(-1)
    shifted = (pred + 1) % 10
    return np.where(np.arange(len(pred)) % 2 == 0, pred, shifted).astype("int32")


@pytest.mark.parametrize("kind", ["tuple", "batched", "unbatched", "one_hot"])
def test_evaluate(data, images, labels, kind):
    dataset = {
        "tuple": (images, labels),
        "batched": tf.data.Dataset.from_tensor_slices((images, labels)).batch(20),
        "unbatched": tf.data.Dataset.from_tensor_slices((images, labels)),
        "one_hot": (images, np.eye(10, dtype="float32")[labels]),
    }[kind]
    result = evaluate_tflite(data, dataset, batch_size=32)
    assert result == {"accuracy": 0.5, "count": len(images)}


def test_steps_and_predict(data, images, labels):
    result = evaluate_tflite(data, (images, labels), batch_size=16, steps=2)
    assert result["count"] == 32
    out = predict_tflite(data, images[:5], batch_size=2)
    assert out.shape == (5, 10) and out.dtype == np.float32


def test_errors(data, images):
    with pytest.raises(TypeError, match="tflite_bytes"):
        evaluate_tflite("model.tflite", (images, np.zeros(len(images))))
    with pytest.raises(ValueError, match="labels"):
        evaluate_tflite(data, images)


def test_native_notes_show_only_when_verbose(qmodels, data, images, capfd):
    # The converter and LiteRT print notes straight to file descriptor 2.
    capfd.readouterr()
    export_tflite(qmodels(8), representative_data=images[:4], representative_samples=4)
    predict_tflite(data, images[:2])
    assert capfd.readouterr().err == ""
    export_tflite(
        qmodels(8), representative_data=images[:4], representative_samples=4, verbose=True
    )
    predict_tflite(data, images[:2], verbose=True)
    assert "fully_quantize" in capfd.readouterr().err  # LiteRT's note comes once per process
