"""Distribution of size, cost and depth over a set of architecture specs.

Every number is read from the built Keras model:

- ``params``: trainable parameters (BatchNorm moving statistics excluded).
- ``flops``: multiply-adds of the Conv2D, SeparableConv2D, DepthwiseConv2D
  and Dense layers for one image, from the layers' input and output shapes
  (BatchNorm, pooling, additions and biases are not counted).
- ``cells``: number of cells (DARTS family) or of blocks, summed over the
  stages (block family).
- ``depth``: the longest input → output path, counted in conv/dense layers
  (a separable conv counts once; a dilated conv, depthwise then pointwise,
  counts twice; BatchNorm is not counted).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from ghnq_tf._keras import keras
from ghnq_tf.search_space.builder import build
from ghnq_tf.search_space.splits import TRAIN_SPLITS, split

STATS: tuple[str, ...] = ("params", "flops", "cells", "depth")

_DESCRIPTIONS = {
    "params": "trainable parameters",
    "flops": "multiply-adds of conv/dense layers per image",
    "cells": "number of cells (blocks in the block family)",
    "depth": "longest path, in conv/dense layers",
}


_COMPUTE_LAYERS = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Dense,
)


def _is_compute_layer(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, _COMPUTE_LAYERS)


def _spatial(shape: Sequence[Any]) -> int:
    return int(shape[1]) * int(shape[2])


def layer_flops(layer: keras.layers.Layer) -> int:
    """Multiply-adds of one conv/dense layer for one example (0 for other layers).

    Args:
        layer: a built layer called exactly once (as in a functional model).

    Returns:
        The number of multiply-adds, biases excluded.

    Example:
        >>> model = build(split("val")[0])
        >>> layer_flops(model.get_layer("head.dense"))  # 480 features -> 10 logits
        4800
    """
    if not _is_compute_layer(layer):
        return 0
    in_shape, out_shape = layer.input_shape, layer.output_shape
    c_in = int(in_shape[-1])
    if isinstance(layer, keras.layers.Dense):
        return c_in * int(out_shape[-1])
    k_h, k_w = layer.kernel_size
    pixels = _spatial(out_shape)
    if isinstance(layer, keras.layers.SeparableConv2D):
        depthwise = c_in * layer.depth_multiplier
        return pixels * (k_h * k_w * depthwise + depthwise * int(out_shape[-1]))
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return pixels * k_h * k_w * c_in * layer.depth_multiplier
    return pixels * k_h * k_w * (c_in // layer.groups) * int(out_shape[-1])


def _inbound_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    found = []
    for node in layer.inbound_nodes:
        inbound = node.inbound_layers
        found.extend(inbound if isinstance(inbound, list | tuple) else [inbound])
    return found


def longest_path(model: keras.Model) -> int:
    """Conv/dense layers on the longest input → output path of a functional model.

    Example:
        >>> longest_path(build(split("val")[0]))
        12
    """
    layers = {id(layer): layer for layer in model.layers}
    depth: dict[int, int] = {}
    for root in model.layers:
        stack = [(root, False)]
        while stack:  # iterative post-order DFS over inbound layers
            layer, expanded = stack.pop()
            if id(layer) in depth:
                continue
            parents = [p for p in _inbound_layers(layer) if id(p) in layers]
            if not expanded:
                stack.append((layer, True))
                stack.extend((p, False) for p in parents if id(p) not in depth)
                continue
            best = max((depth[id(p)] for p in parents), default=0)
            depth[id(layer)] = best + int(_is_compute_layer(layer))
    return max(depth[id(model.get_layer(name))] for name in model.output_names)


def model_stats(model: keras.Model) -> dict[str, int]:
    """Parameters, multiply-adds and longest conv/dense path of a built model.

    Example:
        >>> model_stats(build(split("val")[0]))
        {'params': 1377130, 'flops': 161592000, 'depth': 12}
    """
    params = sum(w.shape.num_elements() for w in model.trainable_weights)
    flops = sum(layer_flops(layer) for layer in model.layers)
    return {"params": params, "flops": flops, "depth": longest_path(model)}


def num_units(spec: Mapping[str, Any]) -> int:
    """Cells of a DARTS spec, or blocks (summed over stages) of a blocks spec.

    Example:
        >>> num_units(split("val")[0]), num_units(split("zoo")[0]) > 0
        (4, True)
    """
    if "family" in spec:
        return sum(stage["depth"] for stage in spec["stages"])
    return spec["num_cells"]


def _describe(values: Sequence[int]) -> dict[str, float]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "max": max(values),
    }


def summarize(
    specs: Sequence[Mapping[str, Any]],
    *,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    verbose: int = 0,
) -> dict[str, Any]:
    """Distribution (min / median / mean / max) of size, cost and depth of specs.

    Builds every spec's model once (about a second each on a small CPU, so
    the 500 test specs take minutes) and reads the numbers off its layers.

    Args:
        specs: architecture specs, e.g. ``split("val")``.
        input_shape: (height, width, channels) of the images.
        num_classes: number of output logits.
        verbose: 1 shows a progress bar (models are built one by one).

    Returns:
        ``{"num_specs": n, "params": {...}, "flops": {...}, "cells": {...},
        "depth": {...}}``, each inner dict with ``min``, ``median``, ``mean``
        and ``max``. ``flops`` are multiply-adds per image; ``depth`` is the
        longest input → output path in conv/dense layers (see the module
        docstring).

    Raises:
        ValueError: for an empty list or an invalid spec.

    Example:
        stats = summarize(split("val", 3))
        sorted(stats["params"])  # ['max', 'mean', 'median', 'min']
    """
    if isinstance(specs, Mapping) or not isinstance(specs, Sequence) or not specs:
        raise ValueError(
            f"`specs` must be a non-empty list of specs. Received: specs={specs!r:.200}"
        )
    rows: dict[str, list[int]] = {key: [] for key in STATS}
    progress = keras.utils.Progbar(len(specs), unit_name="model") if verbose else None
    for spec in specs:
        model = build(spec, input_shape=input_shape, num_classes=num_classes)
        stats = model_stats(model)
        del model
        stats["cells"] = num_units(spec)
        for key in STATS:
            rows[key].append(stats[key])
        if progress is not None:
            progress.add(1)
    summary: dict[str, Any] = {"num_specs": len(specs)}
    summary.update({key: _describe(values) for key, values in rows.items()})
    return summary


def _human(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.1f}" if value != int(value) else str(int(value))


def print_summary(
    name_or_specs: str | Sequence[Mapping[str, Any]],
    *,
    n: int | None = None,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    file: TextIO | None = None,
) -> dict[str, Any]:
    """Prints the distribution of size, cost and depth of a split or list of specs.

    Args:
        name_or_specs: a split name (see `SPLIT_NAMES`) or a list of specs.
        n: with a split name, summarize its first `n` specs (default: the
            whole split, or 100 specs for ``"train"`` and ``"zoo_train"``).
        input_shape: (height, width, channels) of the images.
        num_classes: number of output logits.
        file: where to print; defaults to `sys.stdout`.

    Returns:
        The dict of `summarize`.

    Example:
        print_summary("val", n=5)  # split "val": 5 networks, input 32x32x3, 10 classes ...
    """
    if isinstance(name_or_specs, str):
        if name_or_specs in TRAIN_SPLITS and n is None:
            n = 100
        specs = split(name_or_specs, n)
        title = f'split "{name_or_specs}"'
    else:
        if n is not None:
            raise ValueError(
                f"`n` only applies to a split name; slice the list instead. Received: n={n!r}"
            )
        specs = name_or_specs
        title = "specs"
    summary = summarize(specs, input_shape=input_shape, num_classes=num_classes, verbose=1)
    shape = "x".join(str(v) for v in input_shape)
    lines = [
        f"{title}: {summary['num_specs']} networks, input {shape}, {num_classes} classes",
        f"{'':8} {'min':>9} {'median':>9} {'mean':>9} {'max':>9}",
    ]
    for key in STATS:
        cells = " ".join(
            f"{_human(summary[key][stat]):>9}" for stat in ("min", "median", "mean", "max")
        )
        lines.append(f"{key:8} {cells}  {_DESCRIPTIONS[key]}")
    print("\n".join(lines), file=file or sys.stdout)
    return summary


__all__ = [
    "STATS",
    "layer_flops",
    "longest_path",
    "model_stats",
    "num_units",
    "print_summary",
    "summarize",
]
