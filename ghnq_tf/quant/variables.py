"""Injection: the weights of an original model onto the variables of its quantized copy.

The GHN predicts one tensor per weight of the *original* model (layer name,
attribute); `target_variables` says which variable of the quantize-aware model
receives it, `target_list` orders them as the GHN's outputs and `inject`
assigns the predictions. BatchNormalization is kept as a layer by `quantize`,
so gamma and beta map to the BN layer's own variables (not to a folded kernel).

This is the one home of injection: prediction, training, evaluation and
tuning all import it from here.

Example:
    targets = gq.quant.target_variables(qmodel, model)
    targets[("Conv1", "kernel")].assign(predicted_kernel)
    targets[("bn_Conv1", "gamma")].assign(predicted_gamma)
    inject(target_list(qmodel, model, graph), ghn.predict_params([graph], bits=4)[0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ghnq_tf._keras import check_tf_keras_model, keras, tf
from ghnq_tf.graph.arch_graph import ArchGraph
from ghnq_tf.quant.canonical import layer_key, make_plan, walk_layers
from ghnq_tf.quant.sites import QuantizeWrapper, check_quantized_model


def _variable_attr(var: Any) -> str:
    return var.name.split("/")[-1].split(":")[0]


def target_variables(
    qmodel: keras.Model, model: keras.Model, *, include_non_trainable: bool = False
) -> dict[tuple[str, str], tf.Variable]:
    """{(layer name, weight attribute): variable of `qmodel`} for every weight of `model`.

    Keys use the layer names of `model` ("outer/inner" for a layer of a nested
    model) and the Keras attribute names: kernel, bias, depthwise_kernel,
    pointwise_kernel (SeparableConv2D), gamma, beta, ... They are in
    topological order. A SeparableConv2D's depthwise_kernel maps to the kernel
    of its depthwise half and its pointwise_kernel/bias to the pointwise half.

    Args:
        qmodel: the quantize-aware model `quantize(model, ...)` returned.
        model: the original model.
        include_non_trainable: also map BN moving statistics and other
            non-trainable weights (default: trainable weights only, what a GHN
            predicts).

    Returns:
        An ordered dict of `tf.Variable`s with the same shapes as the weights of
        `model`.

    Raises:
        ValueError: when `qmodel` was not quantized from a model of this
            architecture.

    Example:
        for (layer, attr), var in target_variables(qmodel, model).items():
            var.assign(prediction[layer, attr])
    """
    qmodel = check_tf_keras_model(qmodel, arg_name="qmodel")
    model = check_tf_keras_model(model)
    check_quantized_model(qmodel)
    plan = make_plan(model)
    # The wrapper replaces a quantized weight attribute of its inner layer by
    # the fake-quantized tensor, so the variables are looked up among the
    # wrapper's weights (named "<inner layer>/<attr>:0").
    by_name: dict[str, Any] = {}
    for layer in qmodel.layers:
        inner = layer.layer if isinstance(layer, QuantizeWrapper) else layer
        by_name[inner.name] = layer
    originals = {layer_key(path): layer for path, layer in walk_layers(model)}

    result: dict[tuple[str, str], tf.Variable] = {}
    for (key, attr), (name, qattr) in plan.weights.items():
        original = getattr(originals[key], attr)
        if not (original.trainable or include_non_trainable):
            continue
        target = by_name.get(name)
        matches = [
            v
            for v in getattr(target, "weights", [])
            if v.name.startswith(name + "/") and _variable_attr(v) == qattr
        ]
        if len(matches) != 1 or tuple(matches[0].shape) != tuple(original.shape):
            raise ValueError(
                f"`qmodel` has no variable for weight {attr!r} of layer {key!r} of model "
                f"{model.name!r} (looked for {qattr!r} of shape {tuple(original.shape)} in layer "
                f"{name!r}). Was `qmodel` made by `gq.quantize` from this model? "
                f"Received: qmodel={qmodel.name!r}, model={model.name!r}"
            )
        result[(key, attr)] = matches[0]
    return result


def target_list(qmodel: keras.Model, model: keras.Model, graph: ArchGraph) -> list[tf.Variable]:
    """The variables of `qmodel` that receive `graph.params`, in that order."""
    targets = target_variables(qmodel, model)
    return [targets[("/".join(p.layer), p.attr)] for p in graph.params]


def inject(variables: Sequence[tf.Variable], values: Sequence[tf.Tensor]) -> None:
    """Assigns predicted `values` into `variables` (same order, same shapes)."""
    if len(variables) != len(values):
        raise ValueError(
            f"Got {len(values)} predicted tensors for {len(variables)} variables; the "
            "graph and the model do not match."
        )
    for var, value in zip(variables, values, strict=True):
        if tuple(var.shape) != tuple(value.shape):
            raise ValueError(
                f"Predicted shape {tuple(value.shape)} does not fit variable {var.name} "
                f"of shape {tuple(var.shape)}."
            )
        var.assign(value)
