"""Fixed, named splits of the search space, identical on every machine.

=============  =====  ===========================================================
split          size   what
=============  =====  ===========================================================
``train``      any    ``split("train", n)``: the first `n` of a seeded stream
``val``        100    in-distribution (the training space)
``test``       500    in-distribution (the training space)
``wide``       100    width 80–128 channels (train: 16–64)
``deep``       100    12–16 cells (train: 4–10)
``bnfree``     100    no batch norm anywhere (train: batch norm with probability 0.9)
``zoo_train``  any    block family: ``split("zoo_train", n)``, a seeded stream
``zoo_val``    100    block family, for validation
``zoo``        500    block family, for testing (the "zoo" of user-style blocks)
=============  =====  ===========================================================

The first six hold DARTS-cell networks, the last three networks of the block
family (``"family": "blocks"``, see `ghnq_tf.search_space.blocks`): VGG
stacks, ResNet basic/bottleneck stages, MobileNetV2/V3 and EfficientNet
inverted residuals, DenseNet blocks.

No spec appears in two splits: val and test are disjoint, each
out-of-distribution split excludes the splits above it, train excludes every
DARTS evaluation split, zoo_val and zoo are disjoint, and zoo_train excludes
both (compared by `spec_hash`).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from ghnq_tf.search_space._checks import is_int
from ghnq_tf.search_space.spec import sample, spec_hash

SPLIT_NAMES: tuple[str, ...] = (
    "train",
    "val",
    "test",
    "wide",
    "deep",
    "bnfree",
    "zoo_train",
    "zoo_val",
    "zoo",
)

#: Sizes of the evaluation splits.
SPLIT_SIZES: dict[str, int] = {
    "val": 100,
    "test": 500,
    "wide": 100,
    "deep": 100,
    "bnfree": 100,
    "zoo_val": 100,
    "zoo": 500,
}

#: The splits with no fixed size (``split(name, n)`` needs `n`).
TRAIN_SPLITS: tuple[str, ...] = ("train", "zoo_train")

#: The training split of each family.
FAMILY_TRAIN_SPLITS: dict[str, str] = {"darts": "train", "blocks": "zoo_train"}

TRAIN_SEED = 0
# val and test are the first 100 and the next 500 specs of one stream.
_VAL_TEST_SEED = 1
_OOD_SEEDS = {"wide": 2, "deep": 3, "bnfree": 4}
ZOO_TRAIN_SEED = 10
# zoo_val and zoo are the first 100 and the next 500 specs of one stream.
_ZOO_SEED = 11


@functools.cache
def _eval_splits() -> dict[str, tuple[dict[str, Any], ...]]:
    val_test = sample(SPLIT_SIZES["val"] + SPLIT_SIZES["test"], seed=_VAL_TEST_SEED)
    splits = {
        "val": tuple(val_test[: SPLIT_SIZES["val"]]),
        "test": tuple(val_test[SPLIT_SIZES["val"] :]),
    }
    taken = {spec_hash(spec) for spec in val_test}
    for name, seed in _OOD_SEEDS.items():
        specs = sample(SPLIT_SIZES[name], seed=seed, space=name, exclude=taken)
        taken.update(spec_hash(spec) for spec in specs)
        splits[name] = tuple(specs)
    return splits


@functools.cache
def _zoo_splits() -> dict[str, tuple[dict[str, Any], ...]]:
    specs = sample(SPLIT_SIZES["zoo_val"] + SPLIT_SIZES["zoo"], seed=_ZOO_SEED, space="blocks")
    return {
        "zoo_val": tuple(specs[: SPLIT_SIZES["zoo_val"]]),
        "zoo": tuple(specs[SPLIT_SIZES["zoo_val"] :]),
    }


@functools.cache
def _eval_hashes() -> frozenset[str]:
    return frozenset(spec_hash(spec) for specs in _eval_splits().values() for spec in specs)


@functools.cache
def _zoo_hashes() -> frozenset[str]:
    return frozenset(spec_hash(spec) for specs in _zoo_splits().values() for spec in specs)


def split(name: str, n: int | None = None) -> list[dict[str, Any]]:
    """Returns the specs of a named split.

    Args:
        name: one of `SPLIT_NAMES`.
        n: number of specs. Required for ``"train"`` and ``"zoo_train"``
            (any positive int; the first `n` of the training stream, so
            smaller `n` give prefixes).
            For the other splits, None gives the whole split and an int its
            first `n` specs.

    Returns:
        A fresh list of spec dicts (changing it does not change the split).

    Raises:
        ValueError: for an unknown `name` or a bad `n`.

    Example:
        >>> len(split("val")), len(split("train", 1000))
        (100, 1000)
    """
    if name not in SPLIT_NAMES:
        raise ValueError(f"`name` must be one of {SPLIT_NAMES}. Received: name={name!r}")
    if n is not None and (not is_int(n) or n < 1):
        raise ValueError(f"`n` must be a positive int or None. Received: n={n!r}")
    if name in TRAIN_SPLITS:
        if n is None:
            raise ValueError(
                f'`n` is required for the "{name}" split, which has no fixed size. Received: n=None'
            )
        if name == "zoo_train":
            return sample(n, seed=ZOO_TRAIN_SEED, space="blocks", exclude=_zoo_hashes())
        return sample(n, seed=TRAIN_SEED, space="train", exclude=_eval_hashes())
    specs = (_zoo_splits() if name.startswith("zoo") else _eval_splits())[name]
    if n is not None and n > len(specs):
        raise ValueError(
            f'`n` must be at most {len(specs)}, the size of the "{name}" split. Received: n={n}'
        )
    return copy.deepcopy(list(specs[:n]))


__all__ = [
    "FAMILY_TRAIN_SPLITS",
    "SPLIT_NAMES",
    "SPLIT_SIZES",
    "TRAIN_SEED",
    "TRAIN_SPLITS",
    "ZOO_TRAIN_SEED",
    "split",
]
