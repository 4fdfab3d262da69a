"""What `gq.evaluate` reads: checked arguments, GHNs, architectures and images.

Example:
    archs = split_archs("test", 3, None)
    data = EvalData("digits", limit=100, calibration_steps=2,
                    calibration_batch_size=32, seed=0)
    x_test, y_test, x_cal = data.arrays(None)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ghnq_tf._keras import keras, tf
from ghnq_tf.hypernet.ghn import GHN
from ghnq_tf.quant.mse_ranges import check_ranges

#: The pseudo-split of the ten `tf_keras.applications` reference models.
APPLICATIONS_SPLIT = "applications"


def positive_int(value: Any, name: str, *, optional: bool = False) -> int | None:
    """`value` if it is a positive int (or None when `optional`), else a ValueError."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        kind = "a positive int or None" if optional else "a positive int"
        raise ValueError(f"`{name}` must be {kind}. Received: {name}={value!r}")
    return value


def check_bits(bits: Any, *, arg_name: str = "bits") -> tuple[int, ...]:
    """Bitwidths as a tuple of distinct ints in 2..8 (an int is one bitwidth)."""
    values = [bits] if isinstance(bits, int) and not isinstance(bits, bool) else bits
    ok = isinstance(values, Sequence) and not isinstance(values, str) and len(values) > 0
    ok = ok and all(isinstance(b, int) and not isinstance(b, bool) and 2 <= b <= 8 for b in values)
    if not ok or len(set(values)) != len(values):
        raise ValueError(
            f"`{arg_name}` must be one or more distinct ints in 2..8, e.g. (8, 4, 2). "
            f"Received: {arg_name}={bits!r}"
        )
    return tuple(int(b) for b in values)


def check_split(split: Any) -> str | list[dict[str, Any]]:
    """A search-space split name, `"applications"`, or a list of architecture specs."""
    from ghnq_tf.search_space import SPLIT_NAMES, validate_spec

    names = (*SPLIT_NAMES, APPLICATIONS_SPLIT)
    if isinstance(split, (list, tuple)) and split and all(isinstance(s, dict) for s in split):
        for spec in split:
            validate_spec(spec)
        return [dict(spec) for spec in split]
    if not isinstance(split, str) or split not in names:
        raise ValueError(
            f"`split` must be one of {names} or a non-empty list of architecture specs. "
            f"Received: split={split!r}"
        )
    return split


def split_label(split: str | list[dict[str, Any]]) -> str:
    """How a split is named in results: its name, or `"specs"` for a list of specs."""
    return split if isinstance(split, str) else "specs"


def resolve_ghn(value: Any, arg_name: str) -> GHN:
    """A `GHN` from a GHN, a `.keras` path, or a bundled name."""
    if isinstance(value, GHN):
        return value.build_all()
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if os.path.exists(text) or text.endswith(".keras") or os.sep in text:
            return GHN.load(text)
        try:
            return GHN.from_pretrained(text)
        except ValueError as err:
            raise ValueError(
                f"`{arg_name}` must be a gq.GHN, a GHN checkpoint path or a bundled name. "
                f"Received: {arg_name}={text!r}: {err}"
            ) from err
    raise TypeError(
        f"`{arg_name}` must be a gq.GHN, a GHN checkpoint path or a bundled name. "
        f"Received: {arg_name}={value!r} of type {type(value).__name__}"
    )


def describe_ghn(ghn: GHN, source: Any) -> dict[str, Any]:
    """Where a GHN came from, its config, size and a digest of its weights."""
    digest = hashlib.sha256()
    for weight in ghn.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return {
        "source": os.fspath(source) if isinstance(source, (str, os.PathLike)) else "object",
        "config": ghn.get_config(),
        "params": int(ghn.count_params()),
        "weights_sha256": digest.hexdigest(),
    }


def resolve_data(data: Any) -> str:
    """The dataset name to load, checked: a `gq.data.load` name, used as given.

    `"cifar10"` is TensorFlow Datasets' copy (downloaded on first use); a
    local copy is read with `"image_folder:<path>"`.
    """
    if not isinstance(data, str):
        raise TypeError(f"`data` must be a dataset name (str). Received: data={data!r}")
    return data


@dataclasses.dataclass(frozen=True)
class Arch:
    """One network to evaluate.

    Attributes:
        index: position in the split.
        name: e.g. `"test[3]"` or `"MobileNetV2"`.
        size: (height, width) of its input, or None for the dataset's size.
        build: builds the Keras model for (number of classes, (height, width)).
        info: facts recorded with its results (spec hash, MACs at 32×32).
    """

    index: int
    name: str
    size: tuple[int, int] | None
    build: Callable[[int, tuple[int, int]], keras.Model]
    info: dict[str, Any]


def split_archs(
    split: str | list[dict[str, Any]], num_archs: int | None, image_size: int | None
) -> list[Arch]:
    """The first `num_archs` networks of a split or list of specs (all when None)."""
    from ghnq_tf import search_space
    from ghnq_tf._applications import APPLICATIONS, build_application

    if split == APPLICATIONS_SPLIT:
        names = list(APPLICATIONS)
        if num_archs is not None:
            positive_int(num_archs, "num_archs")
            if num_archs > len(names):
                raise ValueError(
                    f"`num_archs` must be at most {len(names)} for split 'applications'. "
                    f"Received: num_archs={num_archs}"
                )
            names = names[:num_archs]
        archs = []
        for index, name in enumerate(names):
            side = max(image_size or APPLICATIONS[name], APPLICATIONS[name])
            archs.append(
                Arch(
                    index,
                    name,
                    (side, side),
                    lambda classes, _, n=name, s=side: build_application(
                        n, side=s, classes=classes
                    ),
                    {},
                )
            )
        return archs
    if isinstance(split, str):
        specs, prefix = search_space.split(split, num_archs), split
    else:
        positive_int(num_archs, "num_archs", optional=True)
        specs, prefix = split[:num_archs], "arch"
    size = None if image_size is None else (image_size, image_size)
    archs = []
    for index, spec in enumerate(specs):

        def build(classes: int, side: tuple[int, int], spec: dict = spec) -> keras.Model:
            return search_space.build(spec, input_shape=(*side, 3), num_classes=classes)

        info = {
            "spec_hash": search_space.spec_hash(spec)[:12],
            "macs_32x32": search_space.macs(spec),
        }
        archs.append(Arch(index, f"{prefix}[{index}]", size, build, info))
    return archs


class EvalData:
    """Test and calibration images in memory (decoded once), per image size.

    Calibration images are the first `calibration_steps` batches of the
    training split shuffled by `tf.random.set_seed(seed)` then
    `gq.data.load(..., shuffle=True, seed=seed)` (tf.data's shuffle reads the
    global seed too, so it is set first: the images do not depend on what ran
    before).

    Args:
        name: a `gq.data.load` name.
        limit: first `limit` test images (None: all).
        calibration_steps: shuffled training batches kept for calibration.
        calibration_batch_size: images per calibration batch.
        ranges: the `ranges` of every calibration (`"mse"` or `"minmax"`).
        seed: seed of the training-image shuffle.
        test_split: the split scored, e.g. `"train[-2000:]"` to score
            held-out training images while the test images stay unseen.
        calibration_split: the split calibration (and QAT) images come from.
    """

    def __init__(
        self,
        name: str,
        *,
        limit: int | None,
        calibration_steps: int,
        calibration_batch_size: int,
        ranges: str = "mse",
        seed: int,
        test_split: str = "test",
        calibration_split: str = "train",
    ) -> None:
        from ghnq_tf.data import info, load

        facts = info(name)
        for needed, role in ((calibration_split, "calibrates"), (test_split, "tests")):
            base = needed.split("[", 1)[0]
            if base not in facts["splits"]:
                raise ValueError(
                    f"Dataset {name!r} has no {base!r} split (it has "
                    f"{sorted(facts['splits'])}): evaluation {role} on {needed!r}. "
                    f"Received: data={name!r}"
                )
        self.name = name
        self.test_split = test_split
        self.calibration_split = calibration_split
        self.num_classes = int(facts["num_classes"])
        if test_split == "test":
            available = facts["splits"]["test"]
        else:  # a sliced split: count it (checks the slice too)
            available = int(load(name, test_split, batch_size=1, shuffle=False).cardinality())
        self.test_images = min(limit or available, available)
        self.limit = limit
        self.calibration_steps = calibration_steps
        self.calibration_batch_size = calibration_batch_size
        self.ranges = check_ranges(ranges)
        self.seed = seed
        self.default_size = (int(facts["image_shape"][0]), int(facts["image_shape"][1]))
        self._cache: dict[Any, tuple[tf.Tensor, tf.Tensor, np.ndarray]] = {}

    def arrays(self, size: tuple[int, int] | None) -> tuple[tf.Tensor, tf.Tensor, np.ndarray]:
        """(test images, test labels, calibration images) at `size`."""
        from ghnq_tf.data import load

        size = size or self.default_size
        if size not in self._cache:
            test = load(
                self.name, self.test_split, batch_size=500, image_size=size, limit=self.limit
            )
            xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in test], strict=True)
            tf.random.set_seed(self.seed)  # tf.data's shuffle also reads the global seed
            train = load(
                self.name,
                self.calibration_split,
                batch_size=self.calibration_batch_size,
                image_size=size,
                shuffle=True,
                seed=self.seed,
                drop_remainder=True,
            )
            cal = [x.numpy() for x, _ in train.take(self.calibration_steps)]
            self._cache[size] = (
                tf.constant(np.concatenate(xs)),
                tf.constant(np.concatenate(ys).astype(np.int32)),
                np.concatenate(cal),
            )
        return self._cache[size]

    def majority_share(self) -> float:
        """Share of the commonest label among the test images (a constant
        predictor's top-1): 1 / num_classes on a balanced test set, not with a
        `limit`. Loads the test images if nothing has loaded them yet."""
        _, labels, _ = next(iter(self._cache.values())) if self._cache else self.arrays(None)
        counts = np.bincount(labels.numpy(), minlength=self.num_classes)
        return float(counts.max() / counts.sum())

    def train_dataset(self, size: tuple[int, int] | None, *, budget: Any) -> tf.data.Dataset:
        """Repeated, shuffled (and augmented) training batches for QAT."""
        from ghnq_tf.data import load

        tf.random.set_seed(self.seed)  # tf.data's shuffle also reads the global seed
        return load(
            self.name,
            self.calibration_split,
            batch_size=budget.batch_size,
            image_size=size or self.default_size,
            shuffle=True,
            augment=budget.augment,
            seed=self.seed,
            drop_remainder=True,
        ).repeat()
