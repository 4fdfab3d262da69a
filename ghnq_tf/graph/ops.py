"""The op vocabulary of architecture graphs (GHN-2 style).

Nodes are parameter tensors (conv, depthwise conv, dense, bias, batch norm)
and parameter-free ops that shape the computation (input, merges, pools).
Activations and other element-wise or layout-only layers are folded away and
recorded on the node that produces their input.
"""

from __future__ import annotations

# Order is part of the checkpoint format of a trained GHN: append, never reorder.
OPS: tuple[str, ...] = (
    "input",
    "conv",  # Conv2D (groups=1), any kernel size and dilation
    "group_conv",  # Conv2D with groups > 1
    "dw_conv",  # DepthwiseConv2D or the depthwise half of SeparableConv2D
    "linear",  # Dense
    "bias",  # the bias of any conv / dense layer, as its own node
    "bn",  # BatchNormalization (gamma, beta)
    "sum",  # Add, or `a + b` on two tensors
    "sub",  # Subtract
    "mul",  # Multiply (e.g. squeeze-and-excitation gates)
    "avg",  # Average
    "concat",  # Concatenate
    "max_pool",
    "avg_pool",
    "glob_avg",
    "glob_max",
)
OP_IDS: dict[str, int] = {name: i for i, name in enumerate(OPS)}

# What a parameter tensor is, for the GHN's decoder heads. Append, never reorder.
PARAM_KINDS: tuple[str, ...] = (
    "conv",  # kernel of a Conv2D, or the pointwise kernel of a SeparableConv2D
    "dw_conv",  # depthwise kernel
    "linear",  # Dense kernel
    "classifier",  # kernel of the layer that produces the model output
    "bias",
    "classifier_bias",
    "gamma",  # batch-norm scale
    "beta",  # batch-norm offset
)
PARAM_KIND_IDS: dict[str, int] = {name: i for i, name in enumerate(PARAM_KINDS)}

# Activations recorded on the node whose output they transform.
ACTIVATIONS: tuple[str, ...] = (
    "linear",
    "relu",
    "relu6",
    "swish",
    "hard_swish",
    "sigmoid",
    "hard_sigmoid",
    "tanh",
    "softmax",
    "elu",
    "leaky_relu",
    "gelu",
    "other",
)
ACTIVATION_IDS: dict[str, int] = {name: i for i, name in enumerate(ACTIVATIONS)}

_ACTIVATION_ALIASES = {"silu": "swish", "selu": "elu", "relu_6": "relu6"}


def activation_name(value: object) -> str:
    """Canonical activation name for a Keras activation (string or function)."""
    name = value if isinstance(value, str) else getattr(value, "__name__", "other")
    name = _ACTIVATION_ALIASES.get(name, name)
    return name if name in ACTIVATION_IDS else "other"
