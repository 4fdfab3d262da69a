"""tfmot's N-bit layout transforms, run so that no layer loses its input order.

tfmot's `ModelTransformer` looks a matched layer's inputs up with
`_get_layers(names)`, which returns them in the order the layers sit in the
model config, not in the order the layer was called with. It then rewires
the matched layer to that order. Its concatenation transforms match a
`Concatenate` whose inputs have no other consumer; once an earlier transform
(Conv2D + BatchNorm) has re-appended one of those inputs to the end of the
config, the concatenation is rewired with its inputs swapped. Every shape is
kept, so the quantized model silently computes another function:
`Concatenate()([BatchNormalization()(conv(x)), Add()([conv(x), conv(x)])])`
is enough (so are `test[3]` and `test[15]` of the search space).

`apply_n_bit_layout` runs the same transforms, in the same order, as
`DefaultNBitQuantizeLayoutTransform.apply` of tfmot 0.8.1 (the pinned
version), with a transformer that returns input layers in call order.
A repeated input (`[x, x, y]`) is still looked up once: `build_canonical`
passes repeats through an `Identity` layer first. `keras.Sequential` models
keep tfmot's lookup, which is their call order.

Example:
    model, layer_quantize_map = apply_n_bit_layout(model, layer_quantize_map, w=4, a=4)
"""

from __future__ import annotations

from typing import Any

from tensorflow_model_optimization.python.core.quantization.keras.experimental.default_n_bit import (  # noqa: E501
    default_n_bit_transforms as n_bit_transforms,
)
from tensorflow_model_optimization.python.core.quantization.keras.graph_transformations import (
    model_transformer,
)

from ghnq_tf._keras import keras

# DefaultNBitQuantizeLayoutTransform.apply's list, tfmot 0.8.1.
_TRANSFORMS = (
    "InputLayerQuantize",
    "SeparableConv1DQuantize",
    "SeparableConvQuantize",
    "Conv2DReshapeBatchNormReLUQuantize",
    "Conv2DReshapeBatchNormActivationQuantize",
    "Conv2DBatchNormReLUQuantize",
    "Conv2DBatchNormActivationQuantize",
    "Conv2DReshapeBatchNormQuantize",
    "Conv2DBatchNormQuantize",
    "ConcatTransform6Inputs",
    "ConcatTransform5Inputs",
    "ConcatTransform4Inputs",
    "ConcatTransform3Inputs",
    "ConcatTransform",
    "LayerReLUQuantize",
    "LayerReluActivationQuantize",
    "DenseBatchNormQuantize",
    "DenseBatchNormReLUQuantize",
    "DenseBatchNormActivationQuantize",
)


class _CallOrderModelTransformer(model_transformer.ModelTransformer):
    """`ModelTransformer` whose layer lookups follow the order of `layer_names`.

    Only for functional models. A Sequential model has no multi-input layer
    to rewire, and tfmot's `_replace_sequential` needs the config order: it
    inserts the replacement where the first of the returned layers sat.
    """

    def _get_layers(self, layer_names: list[str]) -> list[dict[str, Any]]:
        if not self._is_functional_model(self.model):
            return super()._get_layers(layer_names)
        by_name = {layer["config"]["name"]: layer for layer in self._config["layers"]}
        layers, seen = [], set()
        for name in layer_names:
            if name in by_name and name not in seen:
                seen.add(name)
                layers.append(by_name[name])
        return layers


def apply_n_bit_layout(
    model: keras.Model, layer_quantize_map: dict, *, w: int, a: int
) -> tuple[keras.Model, dict]:
    """tfmot's N-bit layout transforms at `w`-bit weights and `a`-bit activations.

    Args:
        model: the annotated model `quantize_apply` is transforming.
        layer_quantize_map: layer name → {"quantize_config": ...}.
        w: weight bits of the configs the transforms attach.
        a: activation bits of the configs the transforms attach.

    Returns:
        (transformed model, updated layer quantize map), as
        `DefaultNBitQuantizeLayoutTransform.apply` returns them.
    """
    transforms = [
        getattr(n_bit_transforms, name)(num_bits_weight=w, num_bits_activation=a)
        for name in _TRANSFORMS
    ]
    return _CallOrderModelTransformer(
        model, transforms, set(layer_quantize_map), layer_quantize_map
    ).transform()
