"""Per-layer bit policies: which bits each layer of the flat model gets.

Semantics (tfmot's): a layer's ``(w, a)`` are the bits of its weights and of
the fake-quant it owns on its output (or on its fused activation). The model
input has its own quantizer, at the default activation bits (a policy entry
named after the input layer sets it).

``first_last_bits=8`` (off by default, so ``bits=4`` really is W4A4 all the
way through, as GHN-QAT trains) applies the common practice of keeping the
first and last weighted layers at 8 bits:

* the first weighted layer(s) (those no other weighted layer feeds) get 8-bit
  weights; the model input and the layers before them (Rescaling,
  Normalization, padding) get 8-bit activations;
* the last weighted layer(s) (the classifier) get 8-bit weights and 8-bit
  outputs (logits); the layers that quantize their input (e.g. the global
  average pooling before the classifier) and the layers after them get
  8-bit activations.

Explicit per-layer entries in the `bits` policy win over both.

Example:
    policy = resolve_policy(flat, plan, parse_bits(4), first_last_bits=8, model=model)
    policy.bits("predictions")  # (8, 8): the classifier at first_last_bits
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from ghnq_tf._compat.tf_keras import inbound_nodes, producing_layer
from ghnq_tf._keras import keras
from ghnq_tf.quant import layers as qlayers
from ghnq_tf.quant.bits import BitsPair, BitsSpec, bits_error
from ghnq_tf.quant.canonical import CanonicalPlan

L = keras.layers

# Layers that keep their input's value grid (no quantizer of their own).
_GRID_PRESERVING = (
    L.Dropout,
    L.SpatialDropout2D,
    L.GaussianNoise,
    L.GaussianDropout,
    L.AlphaDropout,
    L.Identity,
    L.ZeroPadding2D,
    L.Cropping2D,
    L.Reshape,
    L.Flatten,
    L.Permute,
    L.MaxPooling2D,
    L.GlobalMaxPooling2D,
)


@dataclasses.dataclass(frozen=True)
class ResolvedPolicy:
    """Bits of every layer of the flat model.

    Attributes:
        default: (w, a) of layers not in `layers`.
        layers: canonical layer name → (w, a).
        input_bits: bits of the model-input quantizer.
    """

    default: BitsPair
    layers: dict[str, BitsPair]
    input_bits: int

    def bits(self, name: str) -> BitsPair:
        """(weight_bits, activation_bits) of the canonical layer `name`."""
        return self.layers.get(name, self.default)


def input_layer_names(model: keras.Model) -> list[str]:
    return [producing_layer(t).name for t in model.inputs]


def check_policy_names(
    spec: BitsSpec, plan: CanonicalPlan, model: keras.Model, *, bits: Any = None
) -> None:
    """Raises a Keras-style ValueError for policy keys naming no layer of `model`.

    Args:
        spec: the parsed policy.
        plan: the layer names of `model` (nested layers as "outer/inner").
        model: the model being quantized.
        bits: the `bits` argument as received, quoted in the error.
    """
    known = set(plan.layers) | set(input_layer_names(model))
    unknown = [name for name in spec.layers if name not in known]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise bits_error(
        bits if bits is not None else {"default": spec.default, **spec.layers},
        f"unknown layer name(s) in model {model.name!r}: {', '.join(hints)}",
    )


def _inbound_layers(layer: Any) -> list[Any]:
    result = []
    for node in inbound_nodes(layer):
        result.extend(
            node.inbound_layers if isinstance(node.inbound_layers, list) else [node.inbound_layers]
        )
    return result


def _graph_edges(flat: keras.Model) -> tuple[dict[int, list[Any]], dict[int, list[Any]]]:
    parents = {id(layer): _inbound_layers(layer) for layer in flat.layers}
    children: dict[int, list[Any]] = {id(layer): [] for layer in flat.layers}
    for layer in flat.layers:
        for parent in parents[id(layer)]:
            children.setdefault(id(parent), []).append(layer)
    return parents, children


def _reaches_weighted(start: Any, edges: dict[int, list[Any]]) -> bool:
    stack, seen = list(edges.get(id(start), [])), set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, qlayers.WEIGHTED):
            return True
        stack.extend(edges.get(id(layer), []))
    return False


def _first_and_last(flat: keras.Model) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """(first weighted, last weighted, layers before any weighted, layers after all)."""
    parents, children = _graph_edges(flat)
    layers = [layer for layer in flat.layers if not isinstance(layer, L.InputLayer)]
    first, last, before, after = [], [], [], []
    for layer in layers:
        has_parent = _reaches_weighted(layer, parents)
        has_child = _reaches_weighted(layer, children)
        if isinstance(layer, qlayers.WEIGHTED):
            if not has_parent:
                first.append(layer)
            if not has_child:
                last.append(layer)
        else:
            if not has_parent:
                before.append(layer)
            if not has_child:
                after.append(layer)
    return first, last, before, after


def _input_quantizing_layers(layer: Any) -> tuple[list[Any], bool]:
    """Layers whose output quantizer sets `layer`'s input grid; True if the model input."""
    found, reaches_input, stack = [], False, list(_inbound_layers(layer))
    while stack:
        parent = stack.pop()
        if isinstance(parent, L.InputLayer):
            reaches_input = True
        elif type(parent) in _GRID_PRESERVING:
            stack.extend(_inbound_layers(parent))
        else:
            found.append(parent)
    return found, reaches_input


def resolve_policy(
    flat: keras.Model,
    plan: CanonicalPlan,
    spec: BitsSpec,
    *,
    first_last_bits: int | None,
    model: keras.Model,
) -> ResolvedPolicy:
    """The bits of every layer of the flat model `flat`.

    Args:
        flat: the flat model (`build_canonical`), or `model` itself when flat.
        plan: the name mapping of `model` onto `flat`.
        spec: the parsed `bits` argument (names already checked).
        first_last_bits: None, or the bits of the first and last weighted layers.
        model: the original model (for its input-layer names).

    Returns:
        The `ResolvedPolicy`.
    """
    layers: dict[str, BitsPair] = {}
    input_bits = spec.default[1]
    groups = {name: names for names in plan.layers.values() for name in names}
    if first_last_bits is not None:
        b = first_last_bits
        first, last, before, after = _first_and_last(flat)
        for layer in first:
            for name in groups.get(layer.name, [layer.name]):
                layers[name] = (b, layers.get(name, spec.default)[1])
        for layer in last:
            for name in groups.get(layer.name, [layer.name]):
                layers[name] = (b, b)
            producers, _ = _input_quantizing_layers(layer)
            after.extend(producers)
        for layer in before + after:
            w, _ = layers.get(layer.name, spec.default)
            layers[layer.name] = (w, b)
        input_bits = b
    inputs = set(input_layer_names(model))
    for key, pair in spec.layers.items():
        if key in inputs:
            input_bits = pair[1]
            continue
        for name in plan.layers[key]:
            layers[name] = pair
    return ResolvedPolicy(default=spec.default, layers=layers, input_bits=input_bits)
