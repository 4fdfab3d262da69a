"""Fixed, named splits of the search space, identical on every machine.

=========  =====  ===============================================================
split      size   what
=========  =====  ===============================================================
``train``  any    ``split("train", n)``: the first `n` of a seeded stream
``val``    100    in-distribution (the training space)
``test``   500    in-distribution (the training space)
``wide``   100    width 80–128 channels (train: 16–64)
``deep``   100    12–16 cells (train: 4–10)
``bnfree`` 100    no batch norm anywhere (train: batch norm with probability 0.9)
=========  =====  ===============================================================

No spec appears in two splits: val and test are disjoint, each
out-of-distribution split excludes the splits above it, and train excludes
every evaluation split (compared by `spec_hash`).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from ghnq_tf.search_space.spec import _is_int, sample, spec_hash

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test", "wide", "deep", "bnfree")

#: Sizes of the evaluation splits.
SPLIT_SIZES: dict[str, int] = {"val": 100, "test": 500, "wide": 100, "deep": 100, "bnfree": 100}

TRAIN_SEED = 0
# val and test are the first 100 and the next 500 specs of one stream.
_VAL_TEST_SEED = 1
_OOD_SEEDS = {"wide": 2, "deep": 3, "bnfree": 4}


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
def _eval_hashes() -> frozenset[str]:
    return frozenset(spec_hash(spec) for specs in _eval_splits().values() for spec in specs)


def split(name: str, n: int | None = None) -> list[dict[str, Any]]:
    """Returns the specs of a named split.

    Args:
        name: one of `SPLIT_NAMES`.
        n: number of specs. Required for ``"train"`` (any positive int; the
            first `n` of the training stream, so smaller `n` give prefixes).
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
    if n is not None and (not _is_int(n) or n < 1):
        raise ValueError(f"`n` must be a positive int or None. Received: n={n!r}")
    if name == "train":
        if n is None:
            raise ValueError(
                '`n` is required for the "train" split, which has no fixed size. Received: n=None'
            )
        return sample(n, seed=TRAIN_SEED, space="train", exclude=_eval_hashes())
    specs = _eval_splits()[name]
    if n is not None and n > len(specs):
        raise ValueError(
            f'`n` must be at most {len(specs)}, the size of the "{name}" split. Received: n={n}'
        )
    return copy.deepcopy(list(specs[:n]))


__all__ = ["SPLIT_NAMES", "SPLIT_SIZES", "TRAIN_SEED", "split"]
