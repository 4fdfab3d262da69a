"""The one place ghnq_tf touches private internals of its dependencies.

TensorFlow, tf_keras, tensorflow-model-optimization (tfmot) and LiteRT are
pinned (`PINNED`); ghnq_tf needs a few of their non-public modules, private
attributes and private methods. Every such use goes through this package, so
an upgrade that moves or renames one breaks here, with a message naming the
version this was checked against, and nowhere else. `tests/test_compat.py`
checks the installed versions and every internal listed here.

* `ghnq_tf._compat.tensorflow`: `resource_variable_ops`, `distribute_lib`
  replica modes, `get_symbol_from_name`;
* `ghnq_tf._compat.tf_keras`: the `TFOpLambda` class, the functional
  graph's private attributes, `functional.reconstruct_from_config`,
  `SharedObjectLoadingScope` and what `Layer._maybe_build` does;
* `ghnq_tf._compat.tfmot`: the N-bit scheme modules, `QuantizeWrapper` and
  `QuantizeAwareActivation` private state, `config._num_bits_*`,
  `ModelTransformer`'s private matching, replacement and weight methods;
* `ghnq_tf._compat.litert`: `Interpreter._get_ops_details`.
"""

from __future__ import annotations

from typing import Any

# Distribution name → the version every internal here was checked against.
PINNED: dict[str, str] = {
    "tensorflow": "2.21.0",
    "tf_keras": "2.21.0",
    "tensorflow-model-optimization": "0.8.1",
    "ai-edge-litert": "2.3.0",
}


class CompatError(ImportError):
    """A private internal ghnq_tf relies on is missing from an installed dependency."""


def require(owner: Any, name: str, *, package: str) -> Any:
    """`owner.name`, or a `CompatError` naming the pinned version of `package`.

    Args:
        owner: the module or class that should hold the internal.
        name: the attribute's name.
        package: the distribution it comes from (a key of `PINNED`).
    """
    try:
        return getattr(owner, name)
    except AttributeError as err:
        raise CompatError(
            f"ghnq_tf needs `{getattr(owner, '__name__', owner)}.{name}`, a private internal "
            f"of {package} checked against {package}=={PINNED[package]}; the installed "
            f"version does not have it. Install {package}=={PINNED[package]} (see "
            "pyproject.toml) or update ghnq_tf/_compat/."
        ) from err
