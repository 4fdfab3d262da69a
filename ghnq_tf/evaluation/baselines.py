"""The methods `gq.evaluate` compares, and the QAT-from-scratch reference.

Every method ends the same way: its parameters go into the same
quantize-aware network, which is calibrated on the same training images and
evaluated on the same test images. They differ only in where the parameters
come from:

* `ghn`: the GHN, told the evaluated bitwidth.
* `float_ghn`: a second GHN trained in float (the GHN-Q baseline), quantized
  only at test time.
* `no_message_passing`: the same GHN with message passing switched off (each
  node decoded from its own features: the no-graph ablation).
* `random`: Keras' default initialization of the network (chance-level check).
* `qat_scratch`: the network trained by QAT from its Keras initialization for
  a fixed budget (`ScratchBudget`), on a subset of the architectures.

Example:
    >>> methods = check_baselines(None, float_ghn=None)
    >>> methods
    ('ghn', 'no_message_passing', 'random', 'qat_scratch')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # this module stays importable without TensorFlow (the CLI parser)
    from ghnq_tf._keras import keras, tf

GHN = "ghn"
FLOAT_GHN = "float_ghn"
NO_MESSAGE_PASSING = "no_message_passing"
RANDOM = "random"
QAT_SCRATCH = "qat_scratch"

#: Every method, in the order results and tables list them.
METHODS: tuple[str, ...] = (GHN, FLOAT_GHN, NO_MESSAGE_PASSING, RANDOM, QAT_SCRATCH)
#: What `baselines=` may name.
BASELINES: tuple[str, ...] = METHODS[1:]
#: Methods whose parameters a GHN predicts.
PREDICTED: tuple[str, ...] = (GHN, FLOAT_GHN, NO_MESSAGE_PASSING)


def check_baselines(baselines: Sequence[str] | None, *, float_ghn: Any) -> tuple[str, ...]:
    """The methods to run, in `METHODS` order (the GHN itself always first).

    Args:
        baselines: names from `BASELINES`, or None for all of them (then
            `float_ghn` only when a float GHN is given).
        float_ghn: the float GHN (or None). Giving one always adds `float_ghn`.

    Returns:
        The method names, `"ghn"` first.

    Raises:
        ValueError: for an unknown name, or `"float_ghn"` without a float GHN.

    Example:
        >>> check_baselines(["random"], float_ghn=None)
        ('ghn', 'random')
    """
    if baselines is None:
        chosen = set(BASELINES) - ({FLOAT_GHN} if float_ghn is None else set())
    else:
        if isinstance(baselines, str):
            baselines = [baselines]
        unknown = [b for b in baselines if b not in BASELINES]
        if unknown:
            raise ValueError(
                f"`baselines` must name methods among {BASELINES}. "
                f"Received: baselines={list(baselines)!r}"
            )
        chosen = set(baselines)
        if FLOAT_GHN in chosen and float_ghn is None:
            raise ValueError(
                "`baselines` includes 'float_ghn' but no float-trained GHN was given: pass "
                "`float_ghn=` (a gq.GHN, a checkpoint path or a bundled name). Received: "
                "float_ghn=None"
            )
        if float_ghn is not None:
            chosen.add(FLOAT_GHN)
    return tuple(m for m in METHODS if m == GHN or m in chosen)


@dataclasses.dataclass(frozen=True)
class ScratchBudget:
    """The fixed training budget of the `qat_scratch` reference.

    Each network starts from its Keras default initialization (the same
    weights the `random` method evaluates), is quantize-aware at the
    evaluated bitwidth from the first step, and trains for `steps` steps of
    `batch_size` shuffled training images with Adam (`learning_rate`,
    sparse categorical cross-entropy), then is calibrated and evaluated like
    every other method.

    Attributes:
        archs: how many architectures (the first ones of the split).
        steps: optimizer steps per network and bitwidth.
        batch_size: images per step.
        learning_rate: Adam's learning rate (constant).
        augment: random crop and flip of the training images.
    """

    archs: int = 10
    steps: int = 500
    batch_size: int = 64
    learning_rate: float = 1e-3
    augment: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "optimizer": "adam", "loss": "cross-entropy"}


def outputs_logits(model: keras.Model) -> bool:
    """False when the model's last layer applies a softmax (tf_keras.applications)."""
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") != "softmax"


def train_from_scratch(
    qmodel: keras.Model,
    initial_weights: list[Any],
    dataset: tf.data.Dataset,
    *,
    budget: ScratchBudget,
    from_logits: bool = True,
) -> float:
    """QAT of `qmodel` from `initial_weights` for `budget.steps` steps.

    Args:
        qmodel: a quantize-aware model at the bitwidth to train.
        initial_weights: `qmodel.get_weights()` of its fresh quantization
            (Keras default initialization, tfmot's initial ranges).
        dataset: repeated, shuffled `(images, labels)` batches of the
            training split.
        budget: the `ScratchBudget`.
        from_logits: whether the model outputs logits.

    Returns:
        The mean training loss over the steps.

    Example:
        train_from_scratch(qmodel, init, train_ds.repeat(), budget=ScratchBudget(steps=50))
    """
    from ghnq_tf._keras import keras

    qmodel.set_weights(initial_weights)
    qmodel.compile(
        optimizer=keras.optimizers.Adam(budget.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
    )
    history = qmodel.fit(dataset, steps_per_epoch=budget.steps, epochs=1, verbose=0)
    return float(history.history["loss"][-1])


__all__ = [
    "BASELINES",
    "METHODS",
    "PREDICTED",
    "ScratchBudget",
    "check_baselines",
    "outputs_logits",
    "train_from_scratch",
]
