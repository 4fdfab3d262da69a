"""Private LiteRT internals: the op list of an interpreter."""

from __future__ import annotations

from typing import Any

from ghnq_tf._compat import require


def ops_details(interpreter: Any) -> list[dict[str, Any]]:
    """`interpreter._get_ops_details()`: one dict per op (op_name, inputs, index, ...)."""
    return require(interpreter, "_get_ops_details", package="ai-edge-litert")()


__all__ = ["ops_details"]
