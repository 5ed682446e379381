"""The classifier's backbone by name and weight source, with clear errors for each source."""

import tf_keras

from signpipe.errors import ConfigError, EnvironmentSetupError
from signpipe.models.efficientnet_lite import build_efficientnet_lite0
from signpipe.models.features import IMAGE_FEATURE
from signpipe.pipeline.configs import BACKBONES, WEIGHT_SOURCES

_B0_IMAGENET_FILE = "efficientnetb0_notop.h5"


def build_backbone(name: str, weights: str, shape: tuple[int, int, int]) -> tf_keras.Model:
    """EfficientNet without its top; weights: lite0-pretrained, imagenet, none or a file."""
    from_file = weights not in WEIGHT_SOURCES
    if name == "efficientnet_lite0":
        if from_file and weights.endswith(".pth"):  # a Lite0 PyTorch checkpoint
            return build_efficientnet_lite0(shape, include_top=False, weights=weights)
        pretrained = weights in ("lite0-pretrained", "imagenet")
        backbone = build_efficientnet_lite0(
            shape, include_top=False, weights="imagenet" if pretrained else None
        )
    elif name == "efficientnet_b0":
        if weights == "imagenet":
            return _downloaded_b0(shape)
        backbone = tf_keras.applications.EfficientNetB0(
            include_top=False, weights=None, input_tensor=_image_input(shape)
        )
    else:
        raise ConfigError(f"training.backbone '{name}' is unknown; use {BACKBONES}")
    if from_file:
        _load_keras_weights(backbone, weights, name)
    return backbone


def _image_input(shape: tuple[int, int, int]):
    """The model's image input, named as Transform's image feature (models feed by name)."""
    return tf_keras.Input(shape, name=IMAGE_FEATURE)


def _downloaded_b0(shape: tuple[int, int, int]) -> tf_keras.Model:
    """EfficientNetB0 with Keras' ImageNet weights, downloaded once into ~/.keras/models."""
    try:
        return tf_keras.applications.EfficientNetB0(
            include_top=False, weights="imagenet", input_tensor=_image_input(shape)
        )
    except Exception as err:  # tf_keras raises a bare Exception when the download fails
        raise EnvironmentSetupError(
            f"cannot download Keras' ImageNet weights for efficientnet_b0 ({err}). Offline, "
            f"fetch {_B0_IMAGENET_FILE} on a machine with internet, copy it to "
            f"~/.keras/models/ or point training.backbone_weights at it; or use "
            "efficientnet_lite0, whose pretrained weights need no network"
        ) from err


def _load_keras_weights(backbone: tf_keras.Model, path: str, name: str) -> None:
    """Load a Keras weights file saved from the same backbone without its top, strictly."""
    try:
        backbone.load_weights(path)
    except (ValueError, OSError) as err:
        raise ConfigError(
            f"training.backbone_weights '{path}' does not fit {name} without its top: {err}. "
            "The file must be Keras weights saved from that backbone built with "
            "include_top=False (for efficientnet_b0, Keras' efficientnetb0_notop.h5)"
        ) from err
