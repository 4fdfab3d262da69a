"""The two-tape GHN update step (docs/design.md): exact gradients through any model.

The GHN predicts parameters under one tape; they are assigned into the target
model's variables (any Keras model, any tfmot wrapper); the loss of the target
model is taken under a second tape; the chain rule joins them:

    d loss / d θ_GHN = (d params / d θ_GHN)ᵀ · (d loss / d params)

which `ghn_tape.gradient(params, θ, output_gradients=d_params)` computes
exactly, without re-implementing the target's forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ghnq_tf._keras import tf
from ghnq_tf.quant.variables import inject


def ghn_gradients(
    ghn: Any,
    graph: Any,
    variables: Sequence[tf.Variable],
    loss_fn: Callable[[], tf.Tensor],
    *,
    message_passing: bool = True,
) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """Loss of the target model(s) and its gradient for every GHN weight.

    Example:
        loss, grads = ghn_gradients(ghn, gt, qat_vars, lambda: loss_of(qat_model))
        optimizer.apply_gradients(zip(grads, ghn.trainable_variables))

    Args:
        ghn: a `gq.GHN`.
        graph: the GraphTensor of the architectures (and their bitwidths).
        variables: the target variables, one per predicted tensor, in the
            GHN's output order (graph after graph, `ArchGraph.params` order).
        loss_fn: computes the scalar loss from the target variables' current
            values (e.g. a QAT model's loss on a batch).
        message_passing: False for the no-graph ablation.

    Returns:
        `(loss, grads)`, grads aligned with `ghn.trainable_variables`, dense
        (zeros where a weight does not affect the loss).
    """
    with tf.GradientTape() as ghn_tape:
        params = ghn(graph, message_passing=message_passing)
    inject(variables, params)
    with tf.GradientTape() as net_tape:
        loss = loss_fn()
    d_params = net_tape.gradient(loss, list(variables))
    d_params = [
        tf.zeros_like(v) if g is None else g for v, g in zip(variables, d_params, strict=True)
    ]
    grads = ghn_tape.gradient(
        params,
        ghn.trainable_variables,
        output_gradients=d_params,
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )
    # Embedding gradients arrive as IndexedSlices; the tables are small.
    return loss, [tf.convert_to_tensor(g) for g in grads]
