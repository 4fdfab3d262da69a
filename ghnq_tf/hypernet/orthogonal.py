"""Orthonormal filters: the near-polar factor of predicted kernels.

`GHN(orthogonal_kernels=True)` passes each conv and hidden dense kernel
through `orthogonalize` before its fan-in scaling (`ghnq_tf.hypernet.decoder`).

Example:
    >>> kernel = tf.random.normal([2, 3, 3, 8, 16])  # [kernels, h, w, in, out]
    >>> q = tf.reshape(orthogonalize(kernel), [2, 72, 16])
    >>> gram = tf.matmul(q, q, transpose_a=True)  # about the identity
"""

from __future__ import annotations

from ghnq_tf._keras import tf

# Quintic Newton-Schulz coefficients (Jordan et al.'s Muon): five steps take
# every non-zero singular value of a Frobenius-normalized matrix to about 0.7-1.2.
_NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)


def orthogonalize(kernel: tf.Tensor, steps: int = 5) -> tf.Tensor:
    """Near-polar factor of each `[h·w·in, out]` kernel matrix.

    The filters (columns) come out orthonormal; when a kernel has more
    filters than inputs (`out > h·w·in`), its rows do instead. Newton-Schulz
    iterations (matrix products only, so differentiable and cheap), on the
    smaller of the two Gram matrices.

    Args:
        kernel: `[kernels, h, w, in, out]` stacked kernels.
        steps: Newton-Schulz steps.

    Returns:
        The kernels' near-polar factors, in `kernel`'s shape.
    """
    shape = tf.shape(kernel)
    matrix = tf.reshape(kernel, [shape[0], -1, shape[4]])
    matrix /= tf.norm(matrix, axis=[1, 2], keepdims=True) + 1e-7
    a, b, c = _NEWTON_SCHULZ

    def right(x: tf.Tensor) -> tf.Tensor:  # rows >= columns: x · p(xᵀx)
        for _ in range(steps):
            gram = tf.matmul(x, x, transpose_a=True)
            x = a * x + tf.matmul(x, b * gram + c * tf.matmul(gram, gram))
        return x

    def left(x: tf.Tensor) -> tf.Tensor:  # rows < columns: p(x·xᵀ) · x
        for _ in range(steps):
            gram = tf.matmul(x, x, transpose_b=True)
            x = a * x + tf.matmul(b * gram + c * tf.matmul(gram, gram), x)
        return x

    rows, columns = tf.shape(matrix)[1], tf.shape(matrix)[2]
    matrix = tf.cond(rows >= columns, lambda: right(matrix), lambda: left(matrix))
    return tf.reshape(matrix, shape)
