"""Mixed-precision policies: weight memory, and GHN parameters per layer bitwidth.

The GHN is told one bitwidth per graph. For a per-layer policy the graph is
predicted once at each weight bitwidth the policy uses, and every parameter
is taken from the prediction at the bitwidth of its layer:

* a weighted layer (Conv2D, DepthwiseConv2D, SeparableConv2D, Dense: the
  layers with a kernel) uses its own weight bits, for its kernel and bias;
* a parameter of another layer (BatchNormalization gamma and beta) follows
  the closest weighted layer before it in `ArchGraph.params` order (the
  convolution it normalizes), or the policy's default weight bits when there
  is none.

A uniform `bits` gives one prediction at that bitwidth, exactly what
`gq.predict` has always done.

Example:
    graph = gq.graph_from_keras(model)
    weight_counts(graph)["conv1"]  # kernel weights of layer conv1
    params = predict_policy_params(ghn, [graph], {"default": 4, "conv1": 8})[0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ghnq_tf.graph.arch_graph import KERNEL_ATTRS, ArchGraph
from ghnq_tf.quant.bits import BitsSpec, parse_bits


def _key(param: Any) -> str:
    return "/".join(param.layer)


def weight_counts(graph: ArchGraph) -> dict[str, int]:
    """{layer key: number of quantized kernel weights} of every weighted layer.

    Keys are the policy keys of `gq.quantize` ("outer/inner" in nested
    models), in `graph.params` order. Biases and BatchNormalization
    parameters are not counted (tfmot keeps them in float).

    Args:
        graph: the `ArchGraph` of the model (`gq.graph_from_keras`).

    Returns:
        An ordered dict of kernel sizes.
    """
    counts: dict[str, int] = {}
    for param in graph.params:
        if param.attr in KERNEL_ATTRS:
            size = 1
            for dim in param.shape:
                size *= int(dim)
            counts[_key(param)] = counts.get(_key(param), 0) + size
    return counts


def weight_bits(graph: ArchGraph, bits: Any) -> int:
    """Total bits of the quantized kernel weights of `graph` under `bits`.

    Example:
        weight_bits(graph, 4) == 4 * sum(weight_counts(graph).values())  # True

    Args:
        graph: the `ArchGraph` of the model.
        bits: anything `gq.quantize` takes (int, (w, a) pair or policy).

    Returns:
        Σ over weighted layers of (kernel weights × weight bits).
    """
    spec = parse_bits(bits)
    return sum(
        count * spec.layers.get(key, spec.default)[0] for key, count in weight_counts(graph).items()
    )


def param_bits(graph: ArchGraph, spec: BitsSpec) -> list[int]:
    """The bitwidth whose GHN prediction each parameter of `graph` takes.

    Args:
        graph: the `ArchGraph` of the model.
        spec: the parsed policy (`gq.quant.parse_bits`).

    Returns:
        One weight bitwidth per entry of `graph.params` (see the module
        docstring for the rule).
    """
    weighted = {_key(p) for p in graph.params if p.attr in KERNEL_ATTRS}
    current = spec.default[0]
    result = []
    for param in graph.params:
        key = _key(param)
        if key in weighted:
            current = spec.layers.get(key, spec.default)[0]
        result.append(current)
    return result


def stack_predictions(
    per_bits: Mapping[int, Sequence[Any]], bits_of_params: Sequence[int]
) -> list[Any]:
    """Parameter `i` from the prediction at `bits_of_params[i]`."""
    return [per_bits[b][i] for i, b in enumerate(bits_of_params)]


def predictions_by_bits(
    ghn: Any, graphs: Sequence[ArchGraph], widths: Sequence[Sequence[int]]
) -> list[dict[int, list[Any]]]:
    """{bits: parameters} of each graph at each of its `widths`.

    One GHN call per bitwidth, over the graphs that need it, so a graph's
    prediction at `b` bits is the same whether or not other bitwidths are
    asked for (a uniform policy gives exactly the single-bitwidth call).
    """
    results: list[dict[int, list[Any]]] = [{} for _ in graphs]
    for bits in sorted({b for values in widths for b in values}):
        chosen = [i for i, values in enumerate(widths) if bits in values]
        predicted = ghn.predict_params([graphs[i] for i in chosen], bits=bits)
        for i, params in zip(chosen, predicted, strict=True):
            results[i][bits] = params
    return results


def predict_policy_params(ghn: Any, graphs: Sequence[ArchGraph], bits: Any) -> list[list[Any]]:
    """GHN parameters for `graphs` under `bits` (one GHN call per weight bitwidth).

    Args:
        ghn: a `gq.GHN`.
        graphs: `ArchGraph`s of the models.
        bits: an int, a (w, a) pair or a per-layer policy (as `gq.quantize`),
            the same for every graph.

    Returns:
        One list of tensors per graph, in `ArchGraph.params` order.

    Example:
        (params,) = predict_policy_params(ghn, [graph], {"default": 4, "fc": 8})
    """
    spec = parse_bits(bits)
    plans = [param_bits(graph, spec) for graph in graphs]
    per_graph = predictions_by_bits(ghn, graphs, [sorted(set(plan)) for plan in plans])
    return [
        stack_predictions(per_bits, plan) for per_bits, plan in zip(per_graph, plans, strict=True)
    ]
