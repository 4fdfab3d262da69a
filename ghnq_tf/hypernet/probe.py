"""A tiny architecture that exercises every GHN head, used to create weights."""

from __future__ import annotations

import functools

from ghnq_tf.graph.arch_graph import ArchGraph


@functools.lru_cache(maxsize=1)
def probe_graph() -> ArchGraph:
    """input → sep conv (dw, pw, bias) → bn → dense → glob_avg → classifier."""
    from ghnq_tf._keras import keras
    from ghnq_tf.graph.from_keras import graph_from_keras

    # Zero initializers: only shapes matter, and drawing random numbers here
    # (once, the result is cached) would shift the global seed's stream, making
    # the GHN's own initialization depend on whether this ran before.
    layers = keras.layers
    zeros = {"kernel_initializer": "zeros"}
    x = keras.Input((8, 8, 3))
    h = layers.SeparableConv2D(
        4, 3, name="sep", depthwise_initializer="zeros", pointwise_initializer="zeros"
    )(x)
    h = layers.BatchNormalization(name="bn")(h)
    h = layers.Dense(4, name="dense", **zeros)(h)
    h = layers.GlobalAveragePooling2D()(h)
    y = layers.Dense(2, name="classifier", **zeros)(h)
    return graph_from_keras(keras.Model(x, y, name="probe"))
