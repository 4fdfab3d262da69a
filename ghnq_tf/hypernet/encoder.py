"""Node and edge encoders: graph features → initial hidden states (GHN-2 style)."""

from __future__ import annotations

from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.ops import ACTIVATIONS, OPS
from ghnq_tf.graph.schema import FLOAT_BITS, NODE_SET

# Channel counts are bucketed on a log scale (4 buckets per octave), kernel
# sizes kept exact up to 15: GHN-2 embeds each of (out, in, kh, kw).
_CHANNEL_BUCKETS = 64
_KERNEL_BUCKETS = 16
_BITS_VOCAB = (2, 3, 4, 5, 6, 7, 8, FLOAT_BITS)
_POSITION_BUCKETS = 16  # relative depth depth / (depth + height), in sixteenths


def channel_bucket(values: tf.Tensor) -> tf.Tensor:
    """Log-scale bucket of counts (channels, depths): 0 → 0, 1 → 4, 64 → 24, 2048 → 44."""
    v = tf.cast(values, tf.float32)
    bucket = tf.round(4.0 * tf.math.log(1.0 + v) / tf.math.log(2.0))
    return tf.minimum(tf.cast(bucket, tf.int32), _CHANNEL_BUCKETS - 1)


def bits_index(bits: tf.Tensor) -> tf.Tensor:
    """Index of each bitwidth in (2, 3, ..., 8, 32)."""
    bits = tf.cast(bits, tf.int32)
    return tf.where(bits == FLOAT_BITS, len(_BITS_VOCAB) - 1, tf.clip_by_value(bits, 2, 8) - 2)


@keras.utils.register_keras_serializable(package="ghnq_tf")
class NodeEncoder(keras.layers.Layer):
    """Embeds each node's op, parameter shape, stride, dilation, grouping,
    activation, output flag, position (depth from the input, height to the
    output, both log-bucketed, and their ratio) and its graph's target
    bitwidth, summed.

    Example:
        h = NodeEncoder(hidden=64)(graph_tensor)  # [num_nodes, 64]

    Args:
        hidden: width of the node states; a multiple of 4.
    """

    def __init__(self, *, hidden: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if hidden % 4:
            raise ValueError(f"`hidden` must be a multiple of 4. Received: hidden={hidden}")
        self.hidden = hidden
        emb = keras.layers.Embedding
        quarter = hidden // 4
        self.op = emb(len(OPS), hidden, name="op")
        self.shape_out = emb(_CHANNEL_BUCKETS, quarter, name="shape_out")
        self.shape_in = emb(_CHANNEL_BUCKETS, quarter, name="shape_in")
        self.shape_kh = emb(_KERNEL_BUCKETS, quarter, name="shape_kh")
        self.shape_kw = emb(_KERNEL_BUCKETS, quarter, name="shape_kw")
        self.stride = emb(4, hidden, name="stride")
        self.dilation = emb(4, hidden, name="dilation")
        self.grouped = emb(2, hidden, name="grouped")
        self.activation = emb(len(ACTIVATIONS), hidden, name="activation")
        self.is_output = emb(2, hidden, name="is_output")
        self.bits = emb(len(_BITS_VOCAB), hidden, name="bits")
        self.depth = emb(_CHANNEL_BUCKETS, hidden, name="depth")
        self.height = emb(_CHANNEL_BUCKETS, hidden, name="height")
        self.position = emb(_POSITION_BUCKETS + 1, hidden, name="position")

    def call(self, graph: Any) -> tf.Tensor:
        import tensorflow_gnn as tfgnn

        ops = graph.node_sets[NODE_SET]
        shape = ops["shape"]
        kernel = tf.minimum(shape[:, 2:], _KERNEL_BUCKETS - 1)
        shape_state = tf.concat(
            [
                self.shape_out(channel_bucket(shape[:, 0])),
                self.shape_in(channel_bucket(shape[:, 1])),
                self.shape_kh(kernel[:, 0]),
                self.shape_kw(kernel[:, 1]),
            ],
            axis=-1,
        )
        bits = tfgnn.broadcast_context_to_nodes(graph, NODE_SET, feature_name="bits")
        depth, height = ops["depth"], ops["height"]
        position = tf.math.floordiv(_POSITION_BUCKETS * depth, tf.maximum(depth + height, 1))
        return (
            self.op(ops["op"])
            + shape_state
            + self.stride(tf.minimum(ops["stride"], 3))
            + self.dilation(tf.minimum(ops["dilation"], 3))
            + self.grouped(tf.cast(ops["groups"] > 1, tf.int32))
            + self.activation(ops["activation"])
            + self.is_output(ops["is_output"])
            + self.bits(bits_index(bits))
            + self.depth(channel_bucket(depth))
            + self.height(channel_bucket(height))
            + self.position(position)
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "hidden": self.hidden}
