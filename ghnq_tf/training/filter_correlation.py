"""How alike the filters of a kernel are: the filter-decorrelation penalty.

GHN-predicted kernels repeat themselves: their filters come from a shared
basis (mean |cosine| between filters 0.30 against 0.13 for Keras'
initialization, `research/README.md`), and the pooled features of the
predicted networks span few directions. `training.filter_decorrelation`
adds `λ · Σ_kernels mean_{i≠j} cos²(w_i, w_j)` over each network's
convolution kernels to its loss: the mean squared cosine between distinct
filters, the soft-orthogonality penalty of a layer's normalized filters.

A conv kernel `[kh, kw, in, out]` has `out` filters of `kh·kw·in` values; a
depthwise kernel `[kh, kw, channels, 1]` has one spatial filter per channel.
Tiled copies (channel 64 + j of a wide layer repeats channel j) have
cosine 1 whatever the GHN predicts, and add nothing to the gradient.
"""

from __future__ import annotations

from collections.abc import Sequence

from ghnq_tf._keras import tf


def filter_matrix(kernel: tf.Tensor) -> tf.Tensor:
    """The `[values, filters]` matrix of a rank-4 kernel (see the module docstring).

    Example:
        >>> filter_matrix(tf.zeros([3, 3, 16, 32])).shape
        TensorShape([144, 32])
        >>> filter_matrix(tf.zeros([3, 3, 16, 1])).shape  # depthwise
        TensorShape([9, 16])
    """
    kh, kw, channels, filters = kernel.shape
    if filters == 1:  # depthwise: one spatial filter per channel
        return tf.reshape(kernel, [kh * kw, channels])
    return tf.reshape(kernel, [kh * kw * channels, filters])


def mean_squared_cosine(kernel: tf.Tensor) -> tf.Tensor:
    """Mean of cos² over the ordered pairs of distinct filters of `kernel` (0 for one filter).

    Example:
        >>> float(mean_squared_cosine(tf.eye(4)[None, None]))  # orthogonal filters
        0.0
    """
    matrix = filter_matrix(kernel)
    count = matrix.shape[1]
    if count < 2:
        return tf.zeros([])
    unit = matrix / (tf.norm(matrix, axis=0, keepdims=True) + 1e-12)
    gram = tf.matmul(unit, unit, transpose_a=True)
    off_diagonal = tf.reduce_sum(tf.square(gram)) - tf.reduce_sum(
        tf.square(tf.linalg.diag_part(gram))
    )
    return off_diagonal / float(count * (count - 1))


def decorrelation_gradients(
    kernels: Sequence[tf.Tensor | tf.Variable], weight: float
) -> list[tf.Tensor]:
    """Gradients of `weight · Σ mean_squared_cosine(k)` with respect to each kernel.

    Example:
        >>> grads = decorrelation_gradients([tf.random.normal([3, 3, 8, 8])], 0.1)
        >>> grads[0].shape
        TensorShape([3, 3, 8, 8])
    """
    values = [tf.convert_to_tensor(k) for k in kernels]
    if not values:
        return []
    with tf.GradientTape() as tape:
        tape.watch(values)
        penalty = weight * tf.add_n([mean_squared_cosine(v) for v in values])
    return tape.gradient(penalty, values)
