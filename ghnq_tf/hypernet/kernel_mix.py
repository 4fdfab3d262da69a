"""The traced kernel decoder: a node's coefficients mixed over the maximal tensor.

`ParamDecoder` (`ghnq_tf.hypernet.decoder`, whose docstring describes the
basis, CP and template terms) decodes every group of same-kind, same-shape
kernels with one `kernel_function`; the index helpers slice the fixed
`channels` × `channels` × `kernel_size` × `kernel_size` maximal tensor to
each exact shape without materializing it.

Example:
    >>> decode = kernel_function(16, 3, 0, 2, 0)  # channels, size, rank, basis, templates
    >>> out = tf.random.normal([5, 2 * 3 * 3 + 1])  # 5 nodes' head outputs (+ a gain)
    >>> kernels = decode(
    ...     out, tf.random.normal([2, 16, 16]), tf.zeros([0, 3, 3, 16, 16]),
    ...     tile_index(8, 16), tile_index(32, 16), crop_index(3, 3), crop_index(3, 3),
    ...     tf.ones([5]),
    ... )
    >>> kernels.shape  # 5 kernels of 3×3×8×32: output channels tiled past 16
    TensorShape([5, 3, 3, 8, 32])
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ghnq_tf._keras import tf
from ghnq_tf.hypernet.orthogonal import orthogonalize


def tile_index(size: int, available: int) -> np.ndarray:
    """Indices into `available` slots for `size` values: tiled when wider."""
    return (np.arange(size) % available).astype(np.int32)


def crop_index(size: int, available: int) -> np.ndarray:
    """Centre crop of a kernel axis (or centred tiling when the kernel is larger)."""
    offset = (available - size) // 2
    return ((np.arange(size) + offset) % available).astype(np.int32)


def roll_index(channels: int, positions: int) -> np.ndarray:
    """`[positions, channels]`: row `p` is `0..channels-1` rolled by `p`."""
    return ((np.arange(channels)[None, :] + np.arange(positions)[:, None]) % channels).astype(
        np.int32
    )


@functools.lru_cache(maxsize=16)
def kernel_function(
    channels: int,
    kernel_size: int,
    rank: int,
    basis: int,
    templates: int,
    rolled: bool = False,
    orthogonal: bool = False,
) -> Any:
    """The traced kernel decoder for one maximal-tensor size (any group shape).

    One `tf.function` with shape-free signatures serves every group: in the
    training step its forward and backward are one op each instead of dozens
    of small eager ops per group (the decoder's backward went from 1.07 s to
    0.16 s for four digits networks). `rolled` serves 1×1 groups with
    `roll_pointwise`, `orthogonal` kernels with `orthogonal_kernels` (see
    `ghnq_tf.hypernet.decoder`'s docstring).
    """
    c, k, r, b, t = channels, kernel_size, rank, basis, templates
    roll = roll_index(c, k * k)
    index = tf.TensorSpec([None], tf.int32)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([b, c, c], tf.float32),
            tf.TensorSpec([t, k, k, c, c], tf.float32),
            index,
            index,
            index,
            index,
            tf.TensorSpec([None], tf.float32),
        ]
    )
    def kernel(out, bank, template, in_index, out_index, h_index, w_index, scale):
        g = tf.shape(out)[0]

        def spatial(start: int, count: int) -> tf.Tensor:
            values = tf.reshape(out[:, start : start + count * k * k], [g, count, k, k])
            return tf.gather(tf.gather(values, h_index, axis=2), w_index, axis=3)

        kernel = 0.0
        if b and rolled:  # 1×1: every position's mix, its bank rolled by the position
            coefficients = tf.reshape(out[:, : b * k * k], [g, b, k * k])
            mixed = tf.einsum("gbp,bio->pgio", coefficients, bank)
            mixed = tf.reduce_sum(tf.gather(mixed, roll, axis=3, batch_dims=1), axis=0)
            mixed = tf.gather(tf.gather(mixed, in_index, axis=1), out_index, axis=2)
            kernel += mixed[:, None, None]
        elif b:  # learned full-rank channel matrices, mixed per node and position
            matrices = tf.gather(tf.gather(bank, in_index, axis=1), out_index, axis=2)
            kernel += tf.einsum("gbhw,bio->ghwio", spatial(0, b), matrices)
        if r:  # the node's own rank-r channel factors
            start = b * k * k
            factors = tf.reshape(out[:, start : start + 2 * r * c], [g, r, 2, c])
            factors_in = tf.gather(factors[:, :, 0], in_index, axis=2)
            factors_out = tf.gather(factors[:, :, 1], out_index, axis=2)
            mixed = tf.einsum("grhw,gri->grhwi", spatial(start + 2 * r * c, r), factors_in)
            kernel += tf.einsum("grhwi,gro->ghwio", mixed, factors_out)
        if t:  # whole learned tensors, mixed per node
            start = b * k * k + r * (2 * c + k * k)
            full = tf.gather(tf.gather(template, h_index, axis=1), w_index, axis=2)
            full = tf.gather(tf.gather(full, in_index, axis=3), out_index, axis=4)
            kernel += tf.einsum("gt,thwio->ghwio", out[:, start : start + t], full)
        if orthogonal:
            kernel = orthogonalize(kernel)
        gain = 2.0 * tf.sigmoid(out[:, -1])  # 1 at init; lets the GHN shrink a layer
        rms = tf.sqrt(tf.reduce_mean(tf.square(kernel), axis=[1, 2, 3, 4], keepdims=True) + 1e-12)
        return kernel / rms * tf.reshape(scale * gain, [-1, 1, 1, 1, 1])

    return kernel
