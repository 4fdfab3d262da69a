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
version), with a transformer that returns input layers in call order
(`ghnq_tf._compat.tfmot.CallOrderModelTransformer`).
A repeated input (`[x, x, y]`) is still looked up once: `build_canonical`
passes repeats through an `Identity` layer first. `keras.Sequential` models
keep tfmot's lookup, which is their call order.

Example:
    model, layer_quantize_map = apply_n_bit_layout(model, layer_quantize_map, w=4, a=4)
"""

from __future__ import annotations

from ghnq_tf._compat.tfmot import CallOrderModelTransformer, n_bit_transforms
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
    return n_bit_layout_transformer(model, layer_quantize_map, w=w, a=a).transform()


def n_bit_layout_transformer(
    model: keras.Model, layer_quantize_map: dict, *, w: int, a: int
) -> CallOrderModelTransformer:
    """The transformer `apply_n_bit_layout` runs (`transform()` builds its result)."""
    transforms = [
        getattr(n_bit_transforms, name)(num_bits_weight=w, num_bits_activation=a)
        for name in _TRANSFORMS
    ]
    return CallOrderModelTransformer(model, transforms, set(layer_quantize_map), layer_quantize_map)
