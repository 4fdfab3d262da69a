"""Separating the channel copies the decoder tiles into layers wider than its tensor.

The decoder (`ghnq_tf.hypernet.decoder`) computes every kernel from a
maximal tensor of `channels` input × `channels` output channels and tiles it
along both channel axes for wider layers: in a 3×3 convolution of 64 → 128
channels predicted with `channels=64`, output channel 64 + j holds exactly
the kernel of output channel j. Identical channels compute identical
activations and receive identical gradients, so fine-tuning moves them
together and never separates them: such a layer trains as if it were
`channels` wide.

`break_tiling` adds Gaussian noise to the tiled copies only — every kernel
entry whose input or output channel index is `channels` or more — as GHN-2's
and GHN-3's authors do before fine-tuning (`ppuda.utils.init`, which perturbs
only the block where both indices are beyond the maximal tensor). The noise
of each kernel has standard deviation `beta × std(channel correlations) ×
RMS(kernel)`: the spread of the correlations between the kernel's output
channels, as in `ppuda`, times the kernel's own scale, so that `beta` means
the same for a kernel at the GHN's scale and one rescaled by
`match_init_scale`. The classifier (the layer producing the model output),
biases and normalization parameters are left as predicted, and so is every
entry of the maximal tensor itself: the first `channels` channels keep the
function the GHN predicted.

A weight quantizer hides noise smaller than its step: at 4 bits a per-channel
step is about a third of the kernel's RMS, so GHN-3's float `beta` of 1e-5
leaves the quantized copies identical (see docs/finetuning.md for the values
measured at W4A4).

With `orthogonalize=True` each tiled kernel is then replaced by the
orthogonal factor of its QR decomposition (`ppuda`'s `orthogonalize`),
rescaled to the kernel's RMS: the copies become orthogonal directions, at the
cost of mixing the predicted channels (Gram–Schmidt keeps only the first
channel's direction).

Example:
    tensors = break_tiling(graph, ghn.predict_params(graph)[0], channels=ghn.channels,
                           beta=0.1, seed=0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ghnq_tf._keras import tf
from ghnq_tf.graph.arch_graph import KERNEL_ATTRS, ArchGraph

# Kernels the decoder tiles; the classifier's are left untouched.
_TILED_KINDS = ("conv", "dw_conv", "linear")


def copies_mask(shape: Sequence[int], channels: int) -> np.ndarray:
    """Which entries of a kernel of Keras `shape` are tiled copies.

    Args:
        shape: a kernel's Keras shape (`[..., in, out]`; a depthwise kernel's
            is `[h, w, in, multiplier]`).
        channels: the decoder's maximal channel extent.

    Returns:
        A boolean array of `shape`: True where the input (second-to-last
        axis) or output (last axis) channel index is `channels` or more.

    Example:
        >>> int(copies_mask((3, 3, 64, 96), 64).sum()) == 3 * 3 * 64 * 32
        True
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"`shape` must be a kernel's shape (rank >= 2). Received: shape={shape}")
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"`channels` must be a positive int. Received: channels={channels!r}")
    d_in, d_out = shape[-2], shape[-1]
    rows = np.arange(d_in)[:, None] >= channels
    cols = np.arange(d_out)[None, :] >= channels
    return np.broadcast_to(rows | cols, shape).copy()


def channel_correlation_spread(kernel: np.ndarray) -> float:
    """Standard deviation of the correlations between a kernel's channels.

    The channels are the output channels (the last axis) or, for a single
    output channel (a depthwise kernel), the input channels; each is the
    vector of its weights. Returns 0 when fewer than two channels have any
    variance.

    Example:
        >>> round(channel_correlation_spread(np.eye(4)[None, None]), 3)
        0.577
    """
    kernel = np.asarray(kernel, np.float64)
    axis = -1 if kernel.shape[-1] > 1 else -2
    rows = np.moveaxis(kernel, axis, 0).reshape(kernel.shape[axis], -1)
    rows = rows[rows.std(axis=1) > 0]
    if rows.shape[0] < 2 or rows.shape[1] < 2:
        return 0.0
    return float(np.std(np.corrcoef(rows)))


def check_noise_scale(value: Any, *, name: str = "beta") -> float:
    """`value` as a float if it is a finite number >= 0 (not a bool), else a ValueError.

    Example:
        >>> check_noise_scale(0.1)
        0.1
    """
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0 <= value < float("inf"):
        raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value!r}")
    return float(value)


def _orthogonal(kernel: np.ndarray) -> np.ndarray:
    """The QR orthogonal factor of `kernel` as a [fan_in, out] matrix, at its RMS."""
    matrix = kernel.reshape(-1, kernel.shape[-1])
    transposed = matrix.shape[0] < matrix.shape[1]
    if transposed:
        matrix = matrix.T
    q, r = np.linalg.qr(matrix)
    signs = np.sign(np.diag(r))
    q = q * np.where(signs == 0, 1.0, signs)
    if transposed:
        q = q.T
    rms = np.sqrt(np.mean(np.square(kernel)))
    q_rms = np.sqrt(np.mean(np.square(q)))
    return (q * (rms / q_rms if q_rms > 0 else 0.0)).reshape(kernel.shape)


def break_tiling(
    graph: ArchGraph,
    tensors: Sequence[Any],
    *,
    channels: int,
    beta: float,
    orthogonalize: bool = False,
    seed: int | None = None,
) -> list[Any]:
    """Perturbs the tiled channel copies of every predicted hidden kernel.

    Args:
        graph: the architecture the tensors were predicted for.
        tensors: predicted tensors in `graph.params` order.
        channels: the decoder's maximal channel extent (`ghn.channels`).
        beta: noise scale, relative to each kernel's RMS times the spread of
            its channel correlations (see the module docstring); 0 adds none.
        orthogonalize: also replace each tiled kernel by its QR orthogonal
            factor at the kernel's RMS.
        seed: seed of the noise (None: a fresh one each call).

    Returns:
        The tensors; kernels wider than `channels` (not the classifier's)
        carry the noise on their copies only, every other tensor is returned
        as given.

    Raises:
        ValueError: a negative or non-finite `beta`, a bad `channels`, or a
            tensor count that does not match `graph.params`.

    Example:
        tensors = break_tiling(graph, tensors, channels=64, beta=0.1, seed=0)
    """
    check_noise_scale(beta)
    if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
        raise ValueError(f"`channels` must be a positive int. Received: channels={channels!r}")
    if len(tensors) != len(graph.params):
        raise ValueError(
            f"`tensors` must hold one tensor per graph parameter ({len(graph.params)}). "
            f"Received: {len(tensors)} tensors"
        )
    result = list(tensors)
    if not beta and not orthogonalize:
        return result
    rng = np.random.default_rng(seed)
    for index, ref in enumerate(graph.params):
        if ref.attr not in KERNEL_ATTRS or graph.param_kind(ref) not in _TILED_KINDS:
            continue
        mask = copies_mask(ref.shape, channels)
        if not mask.any():
            continue
        kernel = np.asarray(tensors[index], np.float64)
        if beta > 0:
            rms = np.sqrt(np.mean(np.square(kernel)))
            std = beta * channel_correlation_spread(kernel) * rms
            kernel = kernel + np.where(mask, rng.standard_normal(kernel.shape) * std, 0.0)
        if orthogonalize:
            kernel = _orthogonal(kernel)
        result[index] = tf.convert_to_tensor(kernel, tf.float32)
    return result


__all__ = ["break_tiling", "channel_correlation_spread", "check_noise_scale", "copies_mask"]
