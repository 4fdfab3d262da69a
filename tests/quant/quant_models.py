"""Tiny models covering every layer type `quantize` supports, and helpers."""

import numpy as np

from ghnq_tf._keras import keras, tf

L = keras.layers


def conv_bn_model(name: str = "conv_bn") -> keras.Model:
    """Conv-BN-ReLU ×2, a residual Add, separable conv, pooling, Dense."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3), name="image")
    x = L.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    y = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    y = L.BatchNormalization(name="bn_dw")(y)
    y = L.ReLU(6.0, name="relu6")(y)
    x = L.Add(name="add")([x, y])
    x = L.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    x = L.BatchNormalization(name="bn_sep")(x)
    x = L.Activation("relu", name="act")(x)
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Conv2D(8, 3, dilation_rate=2, padding="same", activation="relu", name="dilated")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.2, name="drop")(x)
    outputs = L.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def randomize_batch_norms(model: keras.Model, seed: int = 1) -> None:
    """Non-trivial BN parameters and statistics."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.2, n).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.2, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))


def merges_model() -> keras.Model:
    """Merges, standalone BN, pooling variants and activation flavours."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    a = L.Conv2D(8, 3, padding="same", activation="swish", name="conv_a")(inputs)
    b = L.Conv2D(8, 3, padding="same", activation="sigmoid", name="conv_b")(inputs)
    x = L.Subtract(name="sub")([a, b])
    x = L.Multiply(name="mul")([x, b])
    x = L.Average(name="avg")([x, a])
    x = L.Concatenate(name="cat")([x, a, b])
    x = L.BatchNormalization(name="bn_alone")(x)
    x = L.Activation("gelu", name="gelu")(x)
    x = L.AveragePooling2D(name="avgpool")(x)
    x = L.LeakyReLU(name="leaky")(x)
    x = L.Conv2D(8, 1, name="conv_c")(x)
    x = L.ELU(name="elu")(x)
    x = L.Activation("hard_sigmoid", name="hsig")(x)
    x = L.Activation("tanh", name="tanh")(x)
    x = L.Activation("swish", name="swish")(x)
    x = L.GlobalMaxPooling2D(name="gmp")(x)
    x = L.Dense(10, name="logits")(x)
    outputs = L.Softmax(name="softmax")(x)
    return keras.Model(inputs, outputs, name="merges")


def repeated_input_model() -> keras.Model:
    """Layers that receive one tensor twice (a DARTS cell whose node is a skip).

    tfmot's transforms drop a repeated input (test[32] of the search space
    failed this way); `quantize` routes repeats through an Identity layer.
    """
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    a = L.Conv2D(8, 3, padding="same", name="conv_a")(inputs)
    b = L.Conv2D(8, 3, padding="same", name="conv_b")(inputs)
    x = L.Concatenate(name="cat")([a, a, b])
    x = L.Conv2D(8, 1, name="conv_c")(x)
    x = L.Add(name="add")([x, x])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name="repeated_input")


def pass_through_model() -> keras.Model:
    """Pre-processing, padding/cropping, reshapes and element-wise TFOpLambdas."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = L.Rescaling(1.0 / 255, name="rescale")(inputs)
    norm = L.Normalization(mean=[0.5, 0.4, 0.3], variance=[0.1, 0.2, 0.3], name="norm")
    x = norm(x)
    x = L.ZeroPadding2D(1, name="pad")(x)
    x = L.Conv2D(8, 3, name="conv")(x)
    x = L.Cropping2D(1, name="crop")(x)
    hs = tf.nn.relu6(x + 3.0) * (1.0 / 6.0)  # hard-sigmoid of MobileNetV3
    x = L.Multiply(name="hard_swish")([x, hs])
    x = x + L.Conv2D(8, 1, name="proj")(x)  # two-tensor TFOpLambda
    x = L.Reshape((14 * 14, 8), name="reshape")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(16, activation="relu", name="fc")(x)
    x = L.Dense(8, name="fc_bn_in")(x)
    x = L.BatchNormalization(name="fc_bn")(x)
    outputs = L.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name="pass_through")


def nested_model() -> keras.Model:
    """A Sequential and a functional model used as layers."""
    keras.utils.set_random_seed(0)
    stem = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            L.Conv2D(8, 3, padding="same", use_bias=False, name="conv"),
            L.BatchNormalization(name="bn"),
            L.ReLU(name="relu"),
        ],
        name="stem",
    )
    block_in = keras.Input((16, 16, 8))
    y = L.SeparableConv2D(8, 3, padding="same", name="conv")(block_in)
    y = L.Add(name="add")([block_in, y])
    block = keras.Model(block_in, y, name="block")
    inputs = keras.Input((16, 16, 3))
    x = block(stem(inputs))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name="nested")


def count_kernels(model: keras.Model) -> int:
    """Number of kernels (conv, depthwise, separable halves, dense) of a model."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_kernels(layer)
        elif type(layer) is L.SeparableConv2D:
            total += 2
        elif type(layer) in (L.Conv2D, L.DepthwiseConv2D, L.Dense):
            total += 1
    return total


def weights_of(model: keras.Model) -> list[np.ndarray]:
    return [w.numpy().copy() for w in model.weights]


def kernel_sites(qmodel: keras.Model) -> list:
    from ghnq_tf.quant import quantizer_sites

    return [s for s in quantizer_sites(qmodel) if s.kind == "weight"]
