"""Sub-8-bit export rules: b-bit grids held exactly in int8 TFLite tensors.

The TFLite converter takes 8-bit fake-quant only (sub-8-bit activations fail
with ``'tfl.conv_2d' ... got i4``). Inside `int8_containers(qmodel)` the model
computes the *same values* as its b-bit fake-quant, but expressed with 8-bit
fake-quant ops the converter accepts, chosen so that each int8 tensor holds
the b-bit grid exactly:

* **Weights** (symmetric, narrow range, levels ``n·s`` with ``|n| <= L``,
  ``L = 2^(b-1) - 1``): the b-bit fake-quantized kernel (tfmot's own
  quantizer, evaluated now) becomes a constant, re-expressed with an 8-bit
  scale ``s / k``, ``k = floor(127 / L)``, so level ``n`` is stored as the int8
  ``n·k``: at most ``2^b - 1`` distinct int8 values per tensor, no rounding.
* **BatchNormalization after a convolution** is folded here, per output
  channel ``g = gamma / sqrt(var + eps)``, into that constant (and the
  8-bit scale, ``s·|g| / k``) plus a bias; the BN layer then only adds the
  bias, which the converter fuses into the convolution. (Left to the
  converter, the folded kernel would be re-quantized by its max-abs value,
  which does not preserve the grid for b > 2.) Depthwise kernels are
  expressed per output channel (TFLite's layout) for this.
* **Activations** (asymmetric, levels ``m + i·s``, ``i < 2^b``): an 8-bit
  fake-quant with range ``[m, m + 255·s]`` (step ``s``, the b-bit zero point:
  the producing op rounds to the b-bit grid; int8 saturation clips at ``m``),
  then a requantization to the step ``s / j``, ``j = floor(255 / (2^b - 1))``
  (17 at 4 bits, 85 at 2 bits) with range ``[m, m + 255·s/j]``, which
  saturates at the top level ``m + (2^b - 1)·s`` (a MINIMUM clips first when
  ``j·(2^b - 1) != 255``). The requantization (×j, exact) is a 1×1
  depthwise convolution with weights 1 (the converter merges back-to-back
  fake-quant ops, so some op must carry it; see `_requantizing_identity`).
  The int8 tensors a layer consumes use only ``2^b`` codes (the raw output
  of the producing op, before the saturation, may exceed the top level),
  and the next layer's input scale is j times finer, so TFLite's int32 bias
  (scale = input scale × weight scale) is rounded j times more finely. With
  the coarse scale, bias rounding alone moved about 0.1–0.4 % of the b-bit
  activations of each layer to a neighbouring level (W4A4 top-1 agreement
  93.7 % instead of 99.8 % on the CIFAR-10 parity CNN before fine-tuning).

8-bit quantizers keep tfmot's behaviour (weights are still re-expressed as
constants, which is exact). Dilated convolutions are emitted as one native
op (TFLite CONV_2D/DEPTHWISE_CONV_2D with dilation factors) rather than
SpaceToBatch → conv → BatchToSpace, whose middle tensor would get a range of
its own. Outputs of sigmoid/tanh/softmax are not fake-quantized by tfmot;
TFLite gives them its fixed 8-bit output scale.

What still differs from the fake-quant model is TFLite's int32 bias, which
the float model does not round: an activation lying within half a (fine)
bias step of a rounding boundary can land on the neighbouring level.

Example:
    with int8_containers(qmodel):
        fn = tf.function(lambda x: qmodel(x, training=False))
        ...  # convert to TFLite inside the block
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow_model_optimization as tfmot

from ghnq_tf._compat.tfmot import QuantizeAwareActivation, weight_vars
from ghnq_tf._keras import keras, tf
from ghnq_tf.quant.sites import (
    ACTIVATION,
    INPUT,
    OUTPUT,
    WEIGHT,
    QuantizerSite,
    QuantizeWrapper,
    quantizer_sites,
    swapped_quantizers,
)

L = keras.layers
_Quantizer = tfmot.quantization.keras.quantizers.Quantizer
_LINEAR = ("linear", "NoOpActivation")
_TINY = 1e-30  # below every fake-quant step, so adding it is exact
REQUANTIZE_SCOPE = "ghnq_requantize"  # name scope of the requantizing identities


def nudged_range(qmin: np.ndarray, qmax: np.ndarray, num_bits: int, narrow: bool) -> tuple:
    """TF's nudged fake-quant grid: (nudged_min, nudged_max, scale, zero_point)."""
    lo, hi = (1 if narrow else 0), 2**num_bits - 1
    qmin, qmax = np.asarray(qmin, np.float64), np.asarray(qmax, np.float64)
    scale = (qmax - qmin) / (hi - lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        zero_point = np.clip(np.round(lo - qmin / scale), lo, hi)
    zero_point = np.where(scale > 0, zero_point, lo)
    return (lo - zero_point) * scale, (hi - zero_point) * scale, scale, zero_point


@dataclasses.dataclass
class ActivationGrid:
    """The b-bit grid of one activation quantizer, in float."""

    num_bits: int
    nudged_min: float
    nudged_max: float
    scale: float


def _requantizing_identity(y: Any) -> Any:
    """An identity op TFLite keeps and executes as an exact int8 requantization.

    The converter merges back-to-back fake-quant ops, so a real op must sit
    between the coarse and the fine one. A 1×1 depthwise convolution with
    weights 1 (int8 127, scale 1/127) is exact on int8 values, cannot be fused
    into the producer (a RELU would be fused into a preceding ADD or
    convolution, dropping the coarse rounding) and is run by XNNPACK with the
    rest of the graph (a RELU or ADD with other input and output scales is
    not, which splits the graph into several delegate partitions).
    """
    shape = y.shape
    channels = shape[-1]
    if channels is None or shape.rank is None or shape.rank < 2:
        return y + _TINY  # also exact, but not delegated to XNNPACK
    with tf.name_scope(REQUANTIZE_SCOPE):
        ones = tf.ones((1, 1, int(channels), 1), y.dtype)
        kernel = tf.quantization.fake_quant_with_min_max_args(
            ones, min=-1.0, max=1.0, num_bits=8, narrow_range=True
        )
        middle = int(np.prod(shape[1:-1])) if shape.rank > 2 else 1
        z = y if shape.rank == 4 else tf.reshape(y, (-1, middle, 1, int(channels)))
        z = tf.nn.depthwise_conv2d(z, kernel, (1, 1, 1, 1), "VALID")
        return z if shape.rank == 4 else tf.reshape(z, (-1, *shape[1:]))


class _ActivationContainer(_Quantizer):
    """The b-bit fake-quant of an activation as 8-bit ops (see the module docstring)."""

    def __init__(self, grids: dict[int, ActivationGrid]) -> None:
        self.grids = grids  # id(min_var) -> grid

    def build(self, tensor_shape: Any, name: str, layer: Any) -> dict:
        raise NotImplementedError("export-only quantizer")

    def __call__(self, inputs: Any, training: Any, weights: dict, **kwargs: Any) -> Any:
        grid = self.grids[id(weights["min_var"])]
        lo, step = grid.nudged_min, grid.scale
        # Coarse: the producing op rounds to the b-bit grid (step s).
        y = tf.quantization.fake_quant_with_min_max_args(
            inputs, min=lo, max=lo + 255.0 * step, num_bits=8
        )
        if grid.num_bits >= 8:
            return y
        levels = 2**grid.num_bits - 1
        fine = 255 // levels
        if fine * levels != 255:
            y = tf.minimum(y, grid.nudged_max)
        y = _requantizing_identity(y)
        return tf.quantization.fake_quant_with_min_max_args(
            y, min=lo, max=lo + 255.0 * step / fine, num_bits=8
        )

    def get_config(self) -> dict:
        return {}


class _WeightContainer(_Quantizer):
    """A constant b-bit kernel (BN folded in) re-expressed with 8-bit fake-quant."""

    def __init__(self, value: np.ndarray, bound: np.ndarray, shape: tuple) -> None:
        self.value = value.astype(np.float32)
        self.bound = bound.astype(np.float32)
        self.shape = shape

    def build(self, tensor_shape: Any, name: str, layer: Any) -> dict:
        raise NotImplementedError("export-only quantizer")

    def __call__(self, inputs: Any, training: Any, weights: dict, **kwargs: Any) -> Any:
        value, bound = tf.constant(self.value), tf.constant(self.bound)
        if self.bound.ndim == 1:
            y = tf.quantization.fake_quant_with_min_max_vars_per_channel(
                value, -bound, bound, num_bits=8, narrow_range=True
            )
        else:
            y = tf.quantization.fake_quant_with_min_max_vars(
                value, -bound, bound, num_bits=8, narrow_range=True
            )
        return tf.reshape(y, self.shape)

    def get_config(self) -> dict:
        return {}


def activation_grid(site: QuantizerSite, qvars: dict) -> ActivationGrid:
    """The b-bit grid of an activation quantizer (raises if never calibrated)."""
    lo, hi = float(qvars["min_var"].numpy()), float(qvars["max_var"].numpy())
    nmin, nmax, scale, _ = nudged_range(lo, hi, site.num_bits, site.quantizer.narrow_range)
    if not scale > 0.0:
        raise ValueError(
            f"The activation range of layer {site.layer.name!r} is empty ([{lo}, {hi}]): "
            "calibrate the model before exporting, e.g. `gq.calibrate(qmodel, x_unlabeled)`."
        )
    return ActivationGrid(site.num_bits, float(nmin), float(nmax), float(scale))


def _activation_name(layer: Any) -> str:
    act = getattr(layer, "activation", None)
    if isinstance(act, QuantizeAwareActivation):
        act = act.activation
    if act is None:
        return "linear"
    return getattr(act, "__name__", type(act).__name__)


@dataclasses.dataclass
class BatchNormFold:
    """A BatchNormalization folded into the convolution feeding it."""

    conv: Any  # QuantizeWrapper of Conv2D / DepthwiseConv2D / Dense
    bn: Any  # the inner BatchNormalization layer
    scale: np.ndarray  # g = gamma / sqrt(var + eps), per output channel
    shift: np.ndarray  # added after the convolution's own bias


def batch_norm_folds(qmodel: keras.Model, sites: list[QuantizerSite]) -> dict[int, BatchNormFold]:
    """{id(conv wrapper): fold} for every BN that only a linear convolution feeds."""
    owners = {id(s.layer) for s in sites if s.kind in (ACTIVATION, OUTPUT)}
    folds: dict[int, BatchNormFold] = {}
    for wrapper in qmodel.layers:
        bn = getattr(wrapper, "layer", None)
        if not (isinstance(wrapper, QuantizeWrapper) and type(bn) is L.BatchNormalization):
            continue
        if len(wrapper.inbound_nodes) != 1:
            continue
        conv = wrapper.inbound_nodes[0].inbound_layers
        if not isinstance(conv, QuantizeWrapper) or type(conv.layer) not in (
            L.Conv2D,
            L.DepthwiseConv2D,
            L.Dense,
        ):
            continue
        if (
            id(conv) in owners
            or len(conv.outbound_nodes) != 1
            or len(weight_vars(conv)) != 1
            or _activation_name(conv.layer) not in _LINEAR
        ):
            continue
        var = bn.moving_variance.numpy().astype(np.float64)
        g = 1.0 / np.sqrt(var + bn.epsilon)
        if bn.gamma is not None:
            g = g * bn.gamma.numpy()
        beta = bn.beta.numpy() if bn.beta is not None else 0.0
        b0 = conv.layer.bias.numpy() if getattr(conv.layer, "use_bias", False) else 0.0
        shift = (b0 - bn.moving_mean.numpy()) * g + beta - b0
        folds[id(conv)] = BatchNormFold(conv, bn, g, np.asarray(shift, np.float64))
    return folds


def _weight_container(site: QuantizerSite, fold: BatchNormFold | None) -> _WeightContainer:
    quantizer, qvars = site.quantizer, site.variables[0]
    value = quantizer(site.weight, False, qvars).numpy().astype(np.float64)
    shape = value.shape
    _, _, scale, zero_point = nudged_range(
        qvars["min_var"].numpy(), qvars["max_var"].numpy(), site.num_bits, narrow=True
    )
    top = 2**site.num_bits - 1
    max_level = np.maximum(np.maximum(zero_point - 1, top - zero_point), 1)
    bound = 127.0 * scale / np.floor(127.0 / max_level)  # 8-bit step = scale / k
    bound = np.where(bound > 0, bound, 1.0)
    if type(site.layer.layer) is L.DepthwiseConv2D:  # TFLite layout: per (in * mult)
        kh, kw, cin, mult = shape
        value = value.reshape(kh, kw, 1, cin * mult)
        bound = np.tile(np.broadcast_to(bound, (mult,)), cin)
    elif fold is not None and bound.ndim == 0:
        bound = np.broadcast_to(bound, (shape[-1],))
    if fold is not None:
        value = value * fold.scale
        bound = bound * np.abs(fold.scale)
    bound = np.where(bound > 0, bound, 1.0)
    return _WeightContainer(value, np.asarray(bound), shape)


@contextlib.contextmanager
def _patched_batch_norms(folds: dict[int, BatchNormFold]) -> Iterator[None]:
    saved = []
    try:
        for fold in folds.values():
            bn, shift = fold.bn, tf.constant(fold.shift.astype(np.float32))
            saved.append((bn, bn.__dict__.get("call")))
            bn.call = lambda inputs, training=None, _shift=shift: inputs + _shift
        yield
    finally:
        for bn, call in reversed(saved):
            if call is None:
                del bn.call
            else:
                bn.call = call


def _dilated(layer: Any) -> bool:
    return any(int(d) > 1 for d in getattr(layer, "dilation_rate", (1,)))


def _native_conv(layer: Any) -> Any:
    def convolution_op(inputs: Any, kernel: Any) -> Any:
        return tf.raw_ops.Conv2D(
            input=inputs,
            filter=kernel,
            strides=[1, *layer.strides, 1],
            padding=layer.padding.upper(),
            dilations=[1, *layer.dilation_rate, 1],
        )

    return convolution_op


def _native_depthwise(layer: Any) -> Any:
    def call(inputs: Any, training: Any = None) -> Any:
        y = tf.raw_ops.DepthwiseConv2dNative(
            input=inputs,
            filter=layer.depthwise_kernel,
            strides=[1, *layer.strides, 1],
            padding=layer.padding.upper(),
            dilations=[1, *layer.dilation_rate, 1],
        )
        if layer.use_bias:
            y = tf.nn.bias_add(y, layer.bias)
        return layer.activation(y) if layer.activation is not None else y

    return call


@contextlib.contextmanager
def _native_dilations(qmodel: keras.Model) -> Iterator[None]:
    """Dilated convolutions as one TF op (TFLite CONV_2D with dilation factors).

    tf.nn.convolution lowers a dilation to SpaceToBatch → conv → BatchToSpace,
    whose middle tensor TFLite would quantize with a range of its own (not on
    the layer's grid); the native op has no such intermediate tensor.
    """
    saved = []
    try:
        for wrapper in qmodel.layers:
            layer = getattr(wrapper, "layer", None)
            if layer is None or not _dilated(layer) or layer.data_format != "channels_last":
                continue
            if type(layer) is L.Conv2D and getattr(layer, "groups", 1) == 1:
                attr, value = "convolution_op", _native_conv(layer)
            elif type(layer) is L.DepthwiseConv2D:
                attr, value = "call", _native_depthwise(layer)
            else:
                continue
            saved.append((layer, attr, layer.__dict__.get(attr)))
            setattr(layer, attr, value)
        yield
    finally:
        for layer, attr, old in reversed(saved):
            if old is None:
                delattr(layer, attr)
            else:
                setattr(layer, attr, old)


@contextlib.contextmanager
def int8_containers(qmodel: keras.Model) -> Iterator[None]:
    """Within the block, `qmodel` expresses its fake-quant with 8-bit ops only.

    Trace the model (and convert it) inside the block; its outputs equal those
    of the b-bit fake-quant model up to float rounding. The model is restored
    on exit.

    Args:
        qmodel: a calibrated quantize-aware model from `quantize`.

    Raises:
        ValueError: when an activation range is empty (model not calibrated).

    Example:
        with int8_containers(qmodel):
            y = qmodel(x, training=False)  # ≈ the b-bit fake-quant output
    """
    sites = quantizer_sites(qmodel)
    folds = batch_norm_folds(qmodel, sites)

    def make(site: QuantizerSite) -> Any:
        if site.kind == WEIGHT:
            return _weight_container(site, folds.get(id(site.layer)))
        if site.kind in (INPUT, ACTIVATION, OUTPUT):
            grids = {id(v["min_var"]): activation_grid(site, v) for v in site.variables}
            return _ActivationContainer(grids) if site.num_bits < 8 else None
        return None

    with swapped_quantizers(sites, make), _patched_batch_norms(folds), _native_dilations(qmodel):
        yield
