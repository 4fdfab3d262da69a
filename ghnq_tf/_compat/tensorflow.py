"""Private TensorFlow internals: variable creation, replica modes, symbol lookup, smart_cond."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tensorflow.python.distribute import distribute_lib
from tensorflow.python.framework import smart_cond as _smart_cond_lib
from tensorflow.python.ops import resource_variable_ops
from tensorflow.python.util.tf_export import get_symbol_from_name

from ghnq_tf._compat import require

_PACKAGE = "tensorflow"
ResourceVariable = require(resource_variable_ops, "ResourceVariable", package=_PACKAGE)
_push_mode = require(distribute_lib, "_push_per_thread_mode", package=_PACKAGE)
_pop_mode = require(distribute_lib, "_pop_per_thread_mode", package=_PACKAGE)
_default_replica_mode = require(distribute_lib, "_get_default_replica_mode", package=_PACKAGE)
#: `tf.cond` that runs only the taken branch when the predicate is a Python
#: bool or a constant (Keras' `training` flag), as tfmot's quantizers need.
smart_cond = require(_smart_cond_lib, "smart_cond", package=_PACKAGE)


@contextlib.contextmanager
def default_replica_mode() -> Iterator[None]:
    """Runs the block in the default replica context (this thread only)."""
    _push_mode(_default_replica_mode())
    try:
        yield
    finally:
        _pop_mode()


__all__ = [
    "ResourceVariable",
    "default_replica_mode",
    "distribute_lib",
    "get_symbol_from_name",
    "resource_variable_ops",
    "smart_cond",
]
