"""Run TFLite models with LiteRT (`ai_edge_litert`): predictions, accuracy, tensors.

Example:
    probs = gq.export.predict_tflite(tflite_bytes, x_test[:8])
    gq.evaluate_tflite(tflite_bytes, (x_test, y_test))
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from ghnq_tf._compat.litert import ops_details
from ghnq_tf._keras import tf
from ghnq_tf._quiet import quiet_native_stderr
from ghnq_tf.data.batches import check_steps
from ghnq_tf.export.containers import REQUANTIZE_SCOPE

WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _check_bytes(tflite_bytes: Any) -> bytes:
    if not isinstance(tflite_bytes, (bytes, bytearray)):
        raise TypeError(
            "`tflite_bytes` must be the bytes `export_tflite` returned. Received: "
            f"tflite_bytes of type {type(tflite_bytes).__name__}"
        )
    return bytes(tflite_bytes)


def interpreter(
    tflite_bytes: bytes, *, num_threads: int | None = None, verbose: bool = False, **kwargs: Any
) -> Interpreter:
    """A LiteRT interpreter with tensors allocated.

    `verbose=False` hides the notes LiteRT prints while it loads the model
    ("Created TensorFlow Lite XNNPACK delegate for CPU"); errors still raise.
    """
    with quiet_native_stderr(not verbose):
        try:
            it = Interpreter(
                model_content=_check_bytes(tflite_bytes), num_threads=num_threads, **kwargs
            )
            it.allocate_tensors()
        except RuntimeError as err:
            if not verbose:
                err.add_note("Pass verbose=True to see LiteRT's own log.")
            raise
    return it


class _Runner:
    """Feeds float batches to a (possibly int8-input) LiteRT model."""

    def __init__(self, tflite_bytes: bytes, num_threads: int | None, verbose: bool) -> None:
        self.it = interpreter(tflite_bytes, num_threads=num_threads, verbose=verbose)
        self.input = self.it.get_input_details()[0]
        self.output = self.it.get_output_details()[0]
        self.batch = int(self.input["shape"][0])

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        if dtype == np.float32:
            return x.astype(np.float32)
        scale, zero_point = self.input["quantization"]
        info = np.iinfo(dtype)
        # Same rounding as TF's fake-quant: floor(x / scale + 0.5) from the range start.
        q = np.floor(x.astype(np.float32) / np.float32(scale) + np.float32(0.5)) + zero_point
        return np.clip(q, info.min, info.max).astype(dtype)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if n != self.batch:
            self.it.resize_tensor_input(self.input["index"], [n, *self.input["shape"][1:]])
            self.it.allocate_tensors()
            self.input = self.it.get_input_details()[0]
            self.output = self.it.get_output_details()[0]
            self.batch = n
        self.it.set_tensor(self.input["index"], self._quantize(x))
        self.it.invoke()
        y = self.it.get_tensor(self.output["index"])
        if self.output["dtype"] == np.float32:
            return y
        scale, zero_point = self.output["quantization"]
        return (y.astype(np.float32) - zero_point) * np.float32(scale)


def _batches(data: Any, batch_size: int, steps: int | None) -> Iterator[tuple[np.ndarray, Any]]:
    """(images, labels or None) batches from arrays, (x, y) tuples or datasets."""
    if isinstance(data, tf.data.Dataset):
        element = data.element_spec
        spec = element[0] if isinstance(element, (tuple, list)) else element
        if spec.shape.rank == 3:
            data = data.batch(batch_size)
        source: Any = (
            (np.asarray(e[0]), np.asarray(e[1]) if len(e) > 1 else None)
            if isinstance(e, (tuple, list))
            else (np.asarray(e), None)
            for e in data
        )
    else:
        x, y = data if isinstance(data, tuple) else (data, None)
        x = np.asarray(x)
        y = None if y is None else np.asarray(y)
        source = (
            (x[i : i + batch_size], None if y is None else y[i : i + batch_size])
            for i in range(0, len(x), batch_size)
        )
    for count, item in enumerate(source):
        if steps is not None and count >= steps:
            return
        yield item


def predict_tflite(
    tflite_bytes: bytes,
    x: Any,
    *,
    batch_size: int = 64,
    num_threads: int | None = None,
    verbose: bool = False,
) -> np.ndarray:
    """Float outputs (dequantized) of a TFLite model on images `x`.

    Args:
        tflite_bytes: a TFLite flatbuffer (e.g. from `export_tflite`).
        x: float images (array or dataset of images / (images, labels)).
        batch_size: images per interpreter call.
        num_threads: LiteRT threads (None: its default).
        verbose: show the notes LiteRT prints while loading the model.

    Returns:
        The stacked outputs, float32.

    Example:
        predict_tflite(tflite_bytes, x_test[:4]).shape  # (4, num_classes)
    """
    runner = _Runner(tflite_bytes, num_threads, verbose)
    outputs = [runner(np.asarray(xb, np.float32)) for xb, _ in _batches(x, batch_size, None)]
    return np.concatenate(outputs)


def evaluate_tflite(
    tflite_bytes: bytes,
    dataset: Any,
    *,
    batch_size: int = 64,
    steps: int | None = None,
    num_threads: int | None = None,
    verbose: bool = False,
) -> dict[str, float | int]:
    """Top-1 accuracy of a TFLite classifier run with LiteRT.

    Args:
        tflite_bytes: a TFLite flatbuffer (e.g. from `export_tflite`).
        dataset: (images, labels) — a `tf.data.Dataset` of such pairs (batched
            or not) or a tuple of arrays. Labels are class ids or one-hot.
        batch_size: images per interpreter call (arrays, unbatched datasets).
        steps: at most this many batches (None: all).
        num_threads: LiteRT threads (None: its default).
        verbose: show the notes LiteRT prints while loading the model.

    Returns:
        {"accuracy": fraction correct, "count": number of images}.

    Example:
        evaluate_tflite(tflite_bytes, (x_test, y_test))["accuracy"]
    """
    check_steps(steps)
    runner = _Runner(tflite_bytes, num_threads, verbose)
    correct = count = 0
    for xb, yb in _batches(dataset, batch_size, steps):
        if yb is None:
            raise ValueError("`dataset` must yield (images, labels) to measure accuracy.")
        pred = np.argmax(runner(np.asarray(xb, np.float32)), axis=-1)
        labels = np.argmax(yb, axis=-1) if yb.ndim > 1 and yb.shape[-1] > 1 else yb.reshape(-1)
        correct += int(np.sum(pred == labels.astype(np.int64)))
        count += len(labels)
    return {"accuracy": correct / count if count else float("nan"), "count": count}


def _is_requantizer(op: dict, kernel: np.ndarray, details: dict) -> bool:
    """A 1×1 depthwise identity added by `int8_containers` to requantize."""
    out_name = details[int(op["outputs"][0])]["name"]
    return (
        op["op_name"] == "DEPTHWISE_CONV_2D"
        and REQUANTIZE_SCOPE in out_name
        and kernel.shape[:3] == (1, 1, 1)
        and bool(np.all(kernel == 127))
    )


def weight_tensors(tflite_bytes: bytes, *, include_requantizers: bool = False) -> dict:
    """{tensor name: int8 array} of the kernels of CONV_2D, DEPTHWISE_CONV_2D and
    FULLY_CONNECTED ops, read back from the flatbuffer.

    Args:
        tflite_bytes: a TFLite flatbuffer.
        include_requantizers: also list the 1×1 identity kernels (all 127)
            that sub-8-bit exports use to requantize activations.

    Returns:
        Kernels by tensor name (made unique with the op index when shared).

    Example:
        {k: len(np.unique(v)) for k, v in weight_tensors(tflite_bytes).items()}
    """
    it = interpreter(tflite_bytes)
    details = {d["index"]: d for d in it.get_tensor_details()}
    result = {}
    for op in ops_details(it):
        if op["op_name"] in WEIGHT_OPS and len(op["inputs"]) > 1:
            index = int(op["inputs"][1])
            kernel = it.get_tensor(index)
            if not include_requantizers and _is_requantizer(op, kernel, details):
                continue
            name = details[index]["name"]
            result[name if name not in result else f"{name}#{op['index']}"] = kernel
    return result
