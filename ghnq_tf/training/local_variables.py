"""Replica-local networks inside a `tf.distribute` strategy.

The networks a GHN trains on are scratch space: each replica draws its own
architectures and writes predicted values into its own copies. Created
normally inside a strategy, their variables would become mirrored (created
collectively, in lock-step across replicas), which is wrong for networks that
differ per replica. Under `local_variables()` they are ordinary variables on
the current device; under `outside_strategy()` they are built and run as if
no strategy were active. Both rely on private TensorFlow APIs (no public one
creates a non-mirrored variable or leaves a replica context).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Iterator
from typing import Any

from ghnq_tf._compat.tensorflow import resource_variable_ops
from ghnq_tf._keras import tf

_ACCEPTED = set(inspect.signature(resource_variable_ops.ResourceVariable.__init__).parameters)
_ACCEPTED -= {"self", "synchronization", "aggregation", "distribute_strategy"}

# Keras model construction and first tracing are not thread-safe; replicas of
# MirroredStrategy run in threads, so creating networks is serialized.
CREATION_LOCK = threading.RLock()


def _local_creator(next_creator: Any, **kwargs: Any) -> tf.Variable:
    del next_creator  # skip the strategy's creator: no mirroring
    return resource_variable_ops.ResourceVariable(
        **{k: v for k, v in kwargs.items() if k in _ACCEPTED}
    )


@contextlib.contextmanager
def local_variables() -> Iterator[None]:
    """Variables created inside are plain `ResourceVariable`s on the current device."""
    with CREATION_LOCK, tf.variable_creator_scope(_local_creator):
        yield


@contextlib.contextmanager
def outside_strategy() -> Iterator[None]:
    """Leaves the replica context of a `tf.distribute` strategy (in this thread only).

    Target networks are replica-local scratch space, so they are built and
    run as if no strategy were active (the replica's device scope is kept).
    Inside a replica context, Keras models re-enter the strategy's scope in
    `get_weights` (tfmot's `quantize_apply` calls it: RuntimeError), tfmot's
    moving-average quantizers `merge_call` to update their plain variables
    (AssertionError), and Keras losses refuse their default reduction.
    """
    from ghnq_tf._compat.tensorflow import default_replica_mode

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        yield
        return
    with default_replica_mode():
        yield
