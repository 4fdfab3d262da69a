"""`export_tflite`: a calibrated quantize-aware model → full-integer int8 TFLite.

Example:
    qmodel = gq.calibrate(gq.quantize(model, bits=4), x_unlabeled)
    tflite_bytes = gq.export_tflite(qmodel, representative_data=x_unlabeled,
                                    path="model_w4a4.tflite")
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from ghnq_tf._keras import check_tf_keras_model, keras, tf
from ghnq_tf._quiet import quiet_native_stderr
from ghnq_tf.data.batches import check_steps, iter_batches
from ghnq_tf.export.containers import int8_containers
from ghnq_tf.quant.sites import check_quantized_model


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` via a temporary file and `os.replace`.

    Readers see the old file or the complete new one, never a partial file;
    on any error the temporary file is removed.

    Example:
        write_atomic("model.tflite", tflite_bytes)
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".tflite", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _representative(data: Any, *, samples: int, input_shape: tuple) -> list[np.ndarray]:
    result: list[np.ndarray] = []
    for batch in iter_batches(
        data, batch_size=32, image_rank=len(input_shape), arg_name="representative_data"
    ):
        for x in batch:
            result.append(x[None])
            if len(result) >= samples:
                return result
    if not result:
        raise ValueError("`representative_data` yielded no sample.")
    return result


def export_tflite(
    qmodel: keras.Model,
    *,
    representative_data: Any,
    path: str | os.PathLike | None = None,
    representative_samples: int = 100,
    integer_io: bool = True,
    verbose: bool = False,
) -> bytes:
    """Converts a calibrated quantize-aware model to a full-integer int8 TFLite model.

    At 8 bits this is tfmot's usual quantization-aware conversion. Below 8
    bits the TFLite converter rejects sub-8-bit tensors, so the model is
    exported in int8 containers that hold the b-bit grid exactly (see
    `ghnq_tf.export.containers`): every weight tensor holds at most 2^b - 1
    distinct int8 values and every fake-quantized activation at most 2^b.
    BatchNormalization is folded into the preceding convolution.

    Args:
        qmodel: a quantize-aware model from `quantize`, calibrated (or trained).
        representative_data: images (dataset, array or (images, labels)); the
            converter needs a few for full-integer conversion.
        path: if given, the file is also written there atomically (temporary
            file + `os.replace`).
        representative_samples: number of single images given to the converter.
        integer_io: int8 model input and output (True, full integer) or float
            input and output with quantize/dequantize ops inside (False).
        verbose: show the notes the TFLite converter prints ("fully_quantize:
            0, inference_type: 6, ..."); errors raise either way.

    Returns:
        The TFLite flatbuffer.

    Raises:
        ValueError: when `qmodel` is not quantize-aware, has several inputs or
            was never calibrated (empty activation ranges).

    Example:
        data = gq.export_tflite(qmodel, representative_data=x_train[:100])
        gq.evaluate_tflite(data, (x_test, y_test))["accuracy"]
    """
    qmodel = check_tf_keras_model(qmodel, arg_name="qmodel")
    check_quantized_model(qmodel)
    check_steps(representative_samples, "representative_samples")
    if len(qmodel.inputs) != 1:
        raise ValueError(
            f"`export_tflite` supports single-input models. Received: qmodel with "
            f"{len(qmodel.inputs)} inputs"
        )
    spec = qmodel.inputs[0]
    input_shape = tuple(spec.shape)
    samples = _representative(
        representative_data, samples=representative_samples, input_shape=input_shape
    )

    def dataset() -> Iterator[list[np.ndarray]]:
        for x in samples:
            yield [x]

    with int8_containers(qmodel):
        signature = tf.TensorSpec((None, *input_shape[1:]), spec.dtype, name="input")
        function = tf.function(lambda x: qmodel(x, training=False))
        concrete = function.get_concrete_function(signature)
        # The converter saves its trackable object as a SavedModel. Given the
        # Keras model, Keras would replace each layer's `call` by a traced
        # function (and keep it afterwards); a plain module holding the
        # variables leaves the model as it was.
        holder = tf.Module()
        holder.model_variables = list(qmodel.variables)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if integer_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        with quiet_native_stderr(not verbose):
            try:
                flatbuffer = converter.convert()
            except Exception as err:  # the converter raises several types
                if not verbose:
                    err.add_note("Pass verbose=True to see the TFLite converter's own log.")
                raise
    if path is not None:
        write_atomic(path, flatbuffer)
    return flatbuffer
