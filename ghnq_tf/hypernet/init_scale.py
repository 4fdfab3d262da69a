"""Predicted kernels at their initializer's scale, where normalization makes scale free.

A kernel whose output reaches a batch (or layer) normalization only through
bias-free linear layers can be multiplied by any positive number without
changing what the network computes once its normalization statistics and
activation ranges are calibrated: the normalization divides the factor out,
and the uniform quantizers' calibrated ranges scale with it.

Its *training* does depend on that scale. The gradient of a
normalization-invariant kernel is inversely proportional to its norm, and an
Adam step moves each entry by about the learning rate whatever the norm, so
a kernel `s` times smaller than Keras' initialization trains as if the
learning rate were `1/s²` (SGD) or `1/s` (Adam) times higher. The GHN leaves
these kernels' scale free — the training loss cannot see it — and predicts
them about 7x smaller than Keras' initialization (median over the conv
kernels of a CIFAR-10 `test` network). `gq.predict` therefore rescales them
to the scale of the model's own kernels (for a freshly built model, its
Keras initialization) before it calibrates: the predicted function is kept,
and fine-tuning moves these kernels at the rate it moves freshly
initialized ones. Measured at W4A4 on CIFAR-10 (`research/README.md`): with
SGD 0.01 the prediction held 23–25 % over 300 steps instead of falling to
12 %; with Adam 1e-3 the rescale made no measurable difference.

Example:
    tensors = match_init_scale(model, graph, ghn.predict_params(graph)[0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.arch_graph import KERNEL_ATTRS, ArchGraph

_L = keras.layers
_LINEAR = (_L.Conv1D, _L.Conv2D, _L.Conv3D, _L.DepthwiseConv2D, _L.SeparableConv2D, _L.Dense)
_NORMALIZATIONS = (_L.BatchNormalization, _L.LayerNormalization)
# Layers that only move values around: a uniform factor passes through unchanged.
_SHAPE_ONLY = (
    _L.ZeroPadding1D,
    _L.ZeroPadding2D,
    _L.ZeroPadding3D,
    _L.Cropping2D,
    _L.Reshape,
    _L.Flatten,
    _L.Permute,
)


def _bias_free_linear(layer: Any) -> bool:
    return (
        isinstance(layer, _LINEAR)
        and not getattr(layer, "use_bias", True)
        and getattr(layer, "activation", None) is keras.activations.linear
    )


def _consumers(layer: Any) -> list[Any]:
    return [node.outbound_layer for node in layer.outbound_nodes]


def _reaches_only_normalization(layer: Any) -> bool:
    """Whether every path from `layer`'s output meets a normalization first.

    Paths may pass through bias-free linear layers and shape-only layers; any
    other consumer (an add, an activation, a biased layer, the model's output)
    makes the layer's scale visible.
    """
    consumers = _consumers(layer)
    if not consumers:
        return False
    for consumer in consumers:
        if isinstance(consumer, _NORMALIZATIONS):
            continue
        if isinstance(consumer, _SHAPE_ONLY) or _bias_free_linear(consumer):
            if _reaches_only_normalization(consumer):
                continue
        return False
    return True


def scale_free_kernels(model: keras.Model) -> dict[tuple[str, ...], Any]:
    """The layers of `model` whose kernels' scale normalization divides out.

    Args:
        model: a built `tf_keras` model; nested models are searched too, with
            the same paths as `ArchGraph.params` (outer names first).

    Returns:
        {layer path: layer} for every bias-free linear layer whose output
        reaches only normalization layers (see `_reaches_only_normalization`).

    Example:
        sorted(scale_free_kernels(model))  # [('stem.conv',), ('cell0.pre0.conv',), ...]
    """
    found: dict[tuple[str, ...], Any] = {}

    def visit(container: Any, prefix: tuple[str, ...]) -> None:
        for layer in container.layers:
            path = (*prefix, layer.name)
            if isinstance(layer, keras.Model):
                visit(layer, path)
            elif _bias_free_linear(layer) and _reaches_only_normalization(layer):
                found[path] = layer

    visit(model, ())
    return found


def _rms(values: Any) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(values, np.float64)))))


def match_init_scale(model: keras.Model, graph: ArchGraph, tensors: Sequence[Any]) -> list[Any]:
    """Rescales each scale-free predicted kernel to the RMS of `model`'s own.

    Args:
        model: the float model the tensors were predicted for (its kernels give
            the target scale: for a freshly built model, Keras' initialization).
        graph: `graph_from_keras(model)`.
        tensors: predicted tensors in `graph.params` order.

    Returns:
        The tensors, with every kernel of `scale_free_kernels(model)` scaled to
        its counterpart's RMS in `model` (others, and kernels whose prediction
        or counterpart is all zeros, unchanged).

    Example:
        tensors = match_init_scale(model, graph, ghn.predict_params(graph)[0])
    """
    if len(tensors) != len(graph.params):
        raise ValueError(
            f"`tensors` must hold one tensor per graph parameter ({len(graph.params)}). "
            f"Received: {len(tensors)} tensors"
        )
    free = scale_free_kernels(model)
    result = list(tensors)
    for index, ref in enumerate(graph.params):
        layer = free.get(tuple(ref.layer))
        if layer is None or ref.attr not in KERNEL_ATTRS:
            continue
        target, predicted = _rms(getattr(layer, ref.attr).numpy()), _rms(tensors[index])
        if target > 0 and predicted > 0:
            result[index] = tf.convert_to_tensor(tensors[index]) * (target / predicted)
    return result


__all__ = ["match_init_scale", "scale_free_kernels"]
