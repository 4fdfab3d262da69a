"""Architecture specs: sampling, validation and hashing.

A spec is a plain, JSON-serializable dict describing one network of the
search space::

    {
        "version": 1,
        "width": 32,              # channels of the stem and of the first cells
        "num_cells": 6,           # cells between the stem and the head
        "num_nodes": 3,           # intermediate nodes per cell
        "bn": True,               # BatchNormalization everywhere, or nowhere
        "normal": genotype,       # cell used at stride 1
        "reduce": genotype,       # cell used at the reduction cells
        "reductions": [2, 4],     # indices of the cells that halve H, W and double C
    }

A genotype has one entry per intermediate node; each entry is a list of one or
two ``[op, input]`` pairs. Input 0 and 1 are the outputs of the two previous
cells, input ``2 + m`` is intermediate node ``m`` of the same cell (``m`` below
the node's own index). The node is the sum of its ops, the cell output the
concatenation of all its intermediate nodes. Some node must read input 1, so
that every cell lies on the path to the classifier.

A second family, networks built from the blocks people use (VGG, ResNet,
MobileNetV2/V3, EfficientNet, DenseNet), has specs with ``"family":
"blocks"``; see `ghnq_tf.search_space.blocks`. A spec without a ``family``
key is a DARTS-cell spec, as above.

Sampling uses its own small random generator (SplitMix64), so a seed gives the
same specs on every machine and Python version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ghnq_tf.search_space import blocks
from ghnq_tf.search_space._checks import (
    check_min_max,
    check_optional_limit,
    check_probability,
    is_int,
)
from ghnq_tf.search_space._rng import SplitMix64
from ghnq_tf.search_space.blocks_sampling import BlocksSpace, sample_one
from ghnq_tf.search_space.cost import macs
from ghnq_tf.search_space.ops import EDGE_OPS, NONE, OPS

SPEC_VERSION = 1
SPEC_KEYS: tuple[str, ...] = (
    "version",
    "width",
    "num_cells",
    "num_nodes",
    "bn",
    "normal",
    "reduce",
    "reductions",
)
MAX_INPUTS_PER_NODE = 2


@dataclasses.dataclass(frozen=True)
class Space:
    """Ranges a family of specs is sampled from (all bounds included).

    Attributes:
        width: (min, max) channels of the stem and first cells.
        width_step: widths are multiples of this step.
        num_cells: (min, max) number of cells.
        num_nodes: (min, max) intermediate nodes per cell.
        bn_prob: probability that a network uses batch norm.
        ops: op vocabulary drawn from, uniformly (``none`` edges are dropped).
        max_conv_5x5: most ``conv_5x5`` edges a genotype may have (a genotype
            with more is redrawn, as DeepNets-1M does for large dense convs);
            None for no limit.
        max_macs: networks with more multiply-adds per 32×32×3 image (10
            classes; see `ghnq_tf.search_space.cost.macs`) are redrawn, so
            that the family stays CPU-sized; None for no limit.

    Example:
        >>> space = Space(width=(16, 32), num_cells=(4, 6))
        >>> specs = sample(3, seed=0, space=space)
    """

    width: tuple[int, int] = (16, 64)
    width_step: int = 4
    num_cells: tuple[int, int] = (4, 10)
    num_nodes: tuple[int, int] = (2, 4)
    bn_prob: float = 0.9
    ops: tuple[str, ...] = OPS
    max_conv_5x5: int | None = 1
    max_macs: int | None = 300_000_000

    def __post_init__(self) -> None:
        check_min_max(self, "width", "num_cells", "num_nodes")
        if self.num_cells[0] < 2:
            raise ValueError(
                "`num_cells` must start at 2 or more (two reduction cells). "
                f"Received: num_cells={self.num_cells!r}"
            )
        if not is_int(self.width_step) or self.width_step < 1:
            raise ValueError(
                f"`width_step` must be a positive int. Received: width_step={self.width_step!r}"
            )
        if not any(w % self.width_step == 0 for w in range(self.width[0], self.width[1] + 1)):
            raise ValueError(
                f"No multiple of `width_step` lies in `width`. Received: width={self.width!r}, "
                f"width_step={self.width_step!r}"
            )
        check_probability(self, "bn_prob")
        check_optional_limit(self, "max_conv_5x5", "max_macs")
        bad = [op for op in self.ops if op not in OPS]
        if bad or not any(op != NONE for op in self.ops):
            raise ValueError(
                f"`ops` must be a non-empty subset of {OPS} with at least one op other than "
                f"'none'. Received: ops={self.ops!r}"
            )


#: Named spaces: the DARTS training family, its three out-of-distribution
#: ones, and the block family (``"blocks"``, a `BlocksSpace`). The
#: out-of-distribution spaces are evaluation-only, so they may hold larger
#: networks (`max_macs` 2 G instead of 300 M).
SPACES: dict[str, Space | BlocksSpace] = {
    "train": Space(),
    "wide": Space(width=(80, 128), max_macs=2_000_000_000),
    "deep": Space(num_cells=(12, 16), max_macs=2_000_000_000),
    "bnfree": Space(bn_prob=0.0),
    "blocks": BlocksSpace(),
}

#: The two families: DARTS cells (specs without a ``family`` key) and blocks.
FAMILIES: tuple[str, ...] = ("darts", blocks.FAMILY)


def family_of(spec: Mapping[str, Any]) -> str:
    """``"darts"`` or ``"blocks"``: the family a spec belongs to.

    Example:
        >>> family_of(sample(1, seed=0)[0]), family_of(sample(1, seed=0, space="blocks")[0])
        ('darts', 'blocks')
    """
    return spec.get("family", "darts")


def default_reductions(num_cells: int) -> list[int]:
    """Indices of the two reduction cells, at 1/3 and 2/3 of the depth (as DARTS).

    Example:
        >>> default_reductions(6)
        [2, 4]
    """
    return [num_cells // 3, 2 * num_cells // 3]


_MAX_REDRAWS = 10_000


def _too_many_redraws(what: str, space: Space | BlocksSpace) -> ValueError:
    return ValueError(
        f"Drew {_MAX_REDRAWS} {what} in a row that break the limits of the space; "
        f"loosen `max_conv_5x5` / `max_macs` or widen the ranges. Received: space={space!r}"
    )


def _sample_genotype(rng: SplitMix64, num_nodes: int, space: Space) -> list[list[Any]]:
    ops = space.ops
    real_ops = [op for op in ops if op != NONE]
    for _ in range(_MAX_REDRAWS):
        genotype = []
        for node in range(num_nodes):
            num_inputs = node + 2
            # Two distinct predecessors, as in DARTS; `none` edges are dropped.
            first = rng.below(num_inputs)
            second = rng.below(num_inputs - 1)
            if second >= first:
                second += 1
            edges = [[rng.choice(ops), first], [rng.choice(ops), second]]
            kept = [edge for edge in edges if edge[0] != NONE]
            if not kept:
                kept = [[rng.choice(real_ops), first]]
            genotype.append(sorted(kept, key=lambda edge: (edge[1], edge[0])))
        large = sum(op == "conv_5x5" for edges in genotype for op, _ in edges)
        reads_previous_cell = any(source == 1 for edges in genotype for _, source in edges)
        if reads_previous_cell and (space.max_conv_5x5 is None or large <= space.max_conv_5x5):
            return genotype
    raise _too_many_redraws("genotypes", space)


def _sample_one(rng: SplitMix64, space: Space | BlocksSpace) -> dict[str, Any]:
    if isinstance(space, BlocksSpace):
        for _ in range(_MAX_REDRAWS):
            spec = sample_one(rng, space)
            if spec is not None:
                return spec
        raise _too_many_redraws("networks", space)
    widths = [w for w in range(space.width[0], space.width[1] + 1) if w % space.width_step == 0]
    for _ in range(_MAX_REDRAWS):
        num_cells = rng.randint(*space.num_cells)
        num_nodes = rng.randint(*space.num_nodes)
        spec = {
            "version": SPEC_VERSION,
            "width": rng.choice(widths),
            "num_cells": num_cells,
            "num_nodes": num_nodes,
            "bn": rng.uniform() < space.bn_prob,
            "normal": _sample_genotype(rng, num_nodes, space),
            "reduce": _sample_genotype(rng, num_nodes, space),
            "reductions": default_reductions(num_cells),
        }
        if space.max_macs is None or macs(spec) <= space.max_macs:
            return spec
    raise _too_many_redraws("networks", space)


def sample(
    n: int,
    *,
    seed: int,
    space: str | Space | BlocksSpace = "train",
    exclude: Iterable[str | Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Samples `n` distinct architecture specs from a seeded stream.

    The result is the first `n` specs of the stream for `seed`: ``sample(10,
    seed=s)`` is a prefix of ``sample(100, seed=s)``. Duplicates and specs in
    `exclude` are skipped.

    Args:
        n: number of specs, a positive int.
        seed: non-negative int seed.
        space: a `Space` (DARTS cells) or `BlocksSpace` (blocks), or the
            name of one of `SPACES` (``"train"``, ``"wide"``, ``"deep"``,
            ``"bnfree"``, ``"blocks"``).
        exclude: specs, or their `spec_hash`, that must not be returned.

    Returns:
        A list of `n` spec dicts.

    Raises:
        ValueError: for a bad `n`, `seed` or `space`.

    Example:
        >>> specs = sample(2, seed=0)
        >>> specs[0]["width"], specs[0]["num_cells"]
        (40, 6)
    """
    if not is_int(n) or n < 1:
        raise ValueError(f"`n` must be a positive int. Received: n={n!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int. Received: seed={seed!r}")
    if isinstance(space, str):
        if space not in SPACES:
            raise ValueError(
                f"`space` must be a Space or one of {sorted(SPACES)}. Received: space={space!r}"
            )
        space = SPACES[space]
    elif not isinstance(space, Space | BlocksSpace):
        raise ValueError(
            f"`space` must be a Space, a BlocksSpace or a str. Received: space={space!r}"
        )
    seen = {item if isinstance(item, str) else spec_hash(item) for item in exclude}
    rng = SplitMix64(seed)
    specs: list[dict[str, Any]] = []
    misses = 0
    while len(specs) < n:
        spec = _sample_one(rng, space)
        key = spec_hash(spec)
        if key in seen:
            misses += 1
            if misses > _MAX_REDRAWS:
                raise ValueError(
                    f"Could not draw {n} distinct specs from this space (drew {len(specs)}): "
                    f"the space is too small. Received: n={n}, space={space!r}"
                )
            continue
        seen.add(key)
        specs.append(spec)
    return specs


def _check(condition: bool, key: str, expected: str, value: Any) -> None:
    if not condition:
        raise ValueError(f"`{key}` must be {expected}. Received: {key}={value!r}")


def _validate_genotype(genotype: Any, key: str, num_nodes: int) -> None:
    _check(
        isinstance(genotype, list | tuple) and len(genotype) == num_nodes,
        key,
        f"a list with one entry per node (num_nodes={num_nodes})",
        genotype,
    )
    for node, edges in enumerate(genotype):
        node_key = f"{key}[{node}]"
        _check(
            isinstance(edges, list | tuple) and 1 <= len(edges) <= MAX_INPUTS_PER_NODE,
            node_key,
            f"a list of 1 to {MAX_INPUTS_PER_NODE} [op, input] pairs",
            edges,
        )
        for e, edge in enumerate(edges):
            edge_key = f"{node_key}[{e}]"
            _check(
                isinstance(edge, list | tuple) and len(edge) == 2,
                edge_key,
                "an [op, input] pair",
                edge,
            )
            op, source = edge
            if op == NONE:
                raise ValueError(
                    f"`{edge_key}[0]` must not be 'none': leave 'none' edges out of the "
                    f"spec. Received: {edge_key}={list(edge)!r}"
                )
            _check(op in EDGE_OPS, f"{edge_key}[0]", f"one of {EDGE_OPS}", op)
            _check(
                is_int(source) and 0 <= source < node + 2,
                f"{edge_key}[1]",
                f"an int in [0, {node + 1}] (0, 1: previous cells; 2..: earlier nodes)",
                source,
            )
        pairs = [(op, source) for op, source in edges]
        _check(len(set(pairs)) == len(pairs), node_key, "free of repeated edges", edges)
    # A cell that is not read by the next one would be cut off the network.
    _check(
        any(source == 1 for edges in genotype for _, source in edges),
        key,
        "a genotype that reads input 1 (the previous cell) in some node",
        genotype,
    )


def validate_spec(spec: Any) -> None:
    """Checks that `spec` is a well-formed architecture spec (either family).

    Args:
        spec: the object to check.

    Raises:
        ValueError: naming the first bad key, e.g. ``` `width` must be a
            positive int. Received: width=0```.

    Example:
        >>> validate_spec(sample(1, seed=0)[0])  # passes silently
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"`spec` must be a dict. Received: spec={spec!r}")
    if "family" in spec:
        _check(
            spec["family"] == blocks.FAMILY,
            "family",
            f"{blocks.FAMILY!r} (DARTS-cell specs have no `family` key)",
            spec["family"],
        )
        blocks.validate_spec(spec)
        return
    missing = [key for key in SPEC_KEYS if key not in spec]
    if missing:
        raise ValueError(f"`spec` is missing the key(s) {missing}. Received: spec={spec!r}")
    unknown = sorted(str(key) for key in spec if key not in SPEC_KEYS)
    if unknown:
        raise ValueError(
            f"`spec` has unknown key(s) {unknown}; allowed keys are {list(SPEC_KEYS)}. "
            f"Received: spec={spec!r}"
        )
    version = spec["version"]
    _check(is_int(version) and version == SPEC_VERSION, "version", str(SPEC_VERSION), version)
    for key in ("width", "num_cells", "num_nodes"):
        _check(is_int(spec[key]) and spec[key] >= 1, key, "a positive int", spec[key])
    _check(isinstance(spec["bn"], bool), "bn", "a bool", spec["bn"])
    num_cells = spec["num_cells"]
    reductions = spec["reductions"]
    _check(
        isinstance(reductions, list | tuple)
        and all(is_int(i) and 0 <= i < num_cells for i in reductions)
        and all(a < b for a, b in zip(reductions, reductions[1:], strict=False)),
        "reductions",
        f"a strictly increasing list of cell indices in [0, {num_cells - 1}]",
        reductions,
    )
    _validate_genotype(spec["normal"], "normal", spec["num_nodes"])
    _validate_genotype(spec["reduce"], "reduce", spec["num_nodes"])


def canonical_json(obj: Any) -> str:
    """Canonical JSON text (sorted keys, no spaces) used for hashing.

    Example:
        >>> canonical_json({"b": 1, "a": [2, 3]})
        '{"a":[2,3],"b":1}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def spec_hash(spec: Mapping[str, Any]) -> str:
    """The sha256 hex digest of a spec's canonical JSON, after validating it.

    Equal specs have equal hashes, also after a JSON round trip (tuples and
    lists hash alike). The sampler lists each node's edges in a fixed order,
    so sampled specs of the same network are equal.

    Args:
        spec: an architecture spec.

    Returns:
        A 64-character hex string.

    Raises:
        ValueError: if `spec` is not a valid spec.

    Example:
        >>> len(spec_hash(sample(1, seed=0)[0]))
        64
    """
    validate_spec(spec)
    return hashlib.sha256(canonical_json(spec).encode("ascii")).hexdigest()


__all__ = [
    "FAMILIES",
    "SPACES",
    "SPEC_KEYS",
    "SPEC_VERSION",
    "Space",
    "canonical_json",
    "default_reductions",
    "family_of",
    "sample",
    "spec_hash",
    "validate_spec",
]
