"""Where the fake-quant ops of a tfmot model live, and how to swap them briefly.

A *site* is one quantizer call of a quantize-aware model: the model-input
`QuantizeLayer`, a weight of a `QuantizeWrapper`, a fused activation
(`QuantizeAwareActivation`, before and/or after the activation) or a layer
output. Calibration and export temporarily replace the quantizer object of
sites (the variables stay the same) and restore it afterwards.

Example:
    for site in quantizer_sites(qmodel):
        print(site.layer.name, site.kind, site.quantizer.num_bits)
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow_model_optimization as tfmot

from ghnq_tf._compat import tfmot as tfmot_compat
from ghnq_tf._keras import keras

QuantizeWrapper = tfmot.quantization.keras.QuantizeWrapper
QuantizeLayer = tfmot_compat.QuantizeLayer

INPUT, WEIGHT, ACTIVATION, OUTPUT = "input", "weight", "activation", "output"


@dataclasses.dataclass
class QuantizerSite:
    """One quantizer of a quantize-aware model.

    Attributes:
        layer: the `QuantizeLayer` or `QuantizeWrapper` holding it.
        kind: "input", "weight", "activation" or "output".
        quantizer: the tfmot `Quantizer` object.
        variables: the quantizer variable dicts ({"min_var", "max_var"}) it
            is called with (two for an activation quantized before and after).
        weight: the quantized weight variable (kind "weight"), else None.
        index: position in the holder's list (weights, activations).
    """

    layer: Any
    kind: str
    quantizer: Any
    variables: list[dict[str, Any]]
    weight: Any = None
    index: int = 0

    @property
    def num_bits(self) -> int:
        return int(self.quantizer.num_bits)

    def set(self, quantizer: Any) -> None:
        """Makes the holder call `quantizer` at this site."""
        if self.kind == INPUT:
            self.layer.quantizer = quantizer
        elif self.kind == WEIGHT:
            tfmot_compat.set_weight_quantizer(self.layer, self.index, quantizer)
        elif self.kind == ACTIVATION:
            tfmot_compat.quantize_activations(self.layer)[self.index].quantizer = quantizer
        else:
            tfmot_compat.output_quantizers(self.layer)[self.index] = quantizer


def is_quantized_model(model: keras.Model) -> bool:
    """True when `model` holds tfmot quantize layers or wrappers."""
    return any(isinstance(layer, (QuantizeWrapper, QuantizeLayer)) for layer in model.layers)


def check_quantized_model(model: keras.Model, *, arg_name: str = "qmodel") -> None:
    """Raises a clear ValueError unless `model` was made by `quantize`."""
    if not is_quantized_model(model):
        raise ValueError(
            f"`{arg_name}` must be a quantize-aware model made by `ghnq_tf.quantize` "
            f"(tfmot QuantizeWrapper layers). Received: {arg_name}={model.name!r}, which "
            "has none; call `gq.quantize(model, bits=...)` first."
        )
    if not model.built:
        raise ValueError(f"`{arg_name}` is not built. Received: {arg_name}={model.name!r}")


def quantizer_sites(qmodel: keras.Model) -> list[QuantizerSite]:
    """All quantizer sites of `qmodel`, in layer order.

    Args:
        qmodel: a quantize-aware model (from `quantize`).

    Returns:
        The list of `QuantizerSite`s.

    Example:
        sum(s.kind == "weight" for s in quantizer_sites(qmodel))
    """
    sites: list[QuantizerSite] = []
    for layer in qmodel.layers:
        if isinstance(layer, QuantizeLayer):
            if layer.quantizer is not None:
                sites.append(QuantizerSite(layer, INPUT, layer.quantizer, [layer.quantizer_vars]))
        elif isinstance(layer, QuantizeWrapper):
            for i, (weight, quantizer, qvars) in enumerate(tfmot_compat.weight_vars(layer)):
                sites.append(QuantizerSite(layer, WEIGHT, quantizer, [qvars], weight, i))
            for i, act in enumerate(tfmot_compat.quantize_activations(layer)):
                qvars = tfmot_compat.activation_quantizer_vars(act)
                if qvars:
                    sites.append(QuantizerSite(layer, ACTIVATION, act.quantizer, qvars, index=i))
            for i, quantizer in enumerate(tfmot_compat.output_quantizers(layer)):
                qvars = [tfmot_compat.output_quantizer_vars(layer)]
                sites.append(QuantizerSite(layer, OUTPUT, quantizer, qvars, index=i))
    return sites


@contextlib.contextmanager
def swapped_quantizers(
    sites: list[QuantizerSite], make: Callable[[QuantizerSite], Any | None]
) -> Iterator[None]:
    """Within the block, each site calls ``make(site)`` (if not None) instead.

    The original quantizers are restored on exit, even after an error. Build
    any `tf.function` over the model inside the block (Python-level swaps are
    seen at trace time only).

    Args:
        sites: from `quantizer_sites`.
        make: returns the replacement quantizer of a site, or None to keep it.

    Example:
        with swapped_quantizers(sites, lambda s: None):
            pass
    """
    done: list[QuantizerSite] = []
    try:
        for site in sites:
            replacement = make(site)
            if replacement is not None:
                site.set(replacement)
                done.append(site)
        yield
    finally:
        for site in reversed(done):
            site.set(site.quantizer)
