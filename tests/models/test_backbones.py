"""Backbone weight sources: files load strictly, bad sources are errors that say what to do."""

import numpy as np
import pytest

from signpipe.errors import ConfigError, EnvironmentSetupError
from signpipe.models.backbones import build_backbone
from signpipe.pipeline.configs import load_config

SHAPE = (96, 96, 3)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_b0"])
def test_a_keras_weights_file_is_loaded_into_every_layer(name, tmp_path):
    saved = build_backbone(name, "none", SHAPE)
    path = str(tmp_path / "backbone.h5")
    saved.save_weights(path)
    config = load_config(None, **{"training.backbone": name, "training.backbone_weights": path})
    loaded = build_backbone(name, config.training.backbone_weights, SHAPE)
    fresh = build_backbone(name, "none", SHAPE)
    differs_from_fresh = False
    for want, got, other in zip(saved.weights, loaded.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=want.name)
        differs_from_fresh |= not np.array_equal(other.numpy(), want.numpy())
    assert differs_from_fresh  # random initialisation alone could not have passed


def test_a_weights_file_of_another_backbone_is_refused(tmp_path):
    path = str(tmp_path / "b0.h5")
    build_backbone("efficientnet_b0", "none", SHAPE).save_weights(path)
    with pytest.raises(ConfigError, match=r"b0\.h5.*does not fit efficientnet_lite0"):
        build_backbone("efficientnet_lite0", path, SHAPE)


@pytest.mark.parametrize(
    ("backbone", "weights", "message"),
    [
        ("efficientnet_lite0", "/nowhere/lite0.pth", r"'/nowhere/lite0\.pth' does not exist"),
        ("efficientnet_b0", "/nowhere/b0.h5", "does not exist: put the weights file there"),
        ("efficientnet_b0", "weights.pth", r"weights file for efficientnet_b0 \(a path ending"),
        ("efficientnet_lite0", "random", "neither one of"),
    ],
)
def test_weight_sources_that_cannot_be_had_are_named(backbone, weights, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, **{"training.backbone": backbone, "training.backbone_weights": weights})


def test_an_imagenet_download_that_fails_says_how_to_work_offline(monkeypatch):
    from tf_keras.src.utils import data_utils

    def unreachable(fname, *args, **kwargs):
        raise Exception(f"URL fetch failure on https://storage.googleapis.com/{fname}")

    monkeypatch.setattr(data_utils, "get_file", unreachable)
    with pytest.raises(EnvironmentSetupError, match=r"efficientnetb0_notop\.h5.*backbone_weights"):
        build_backbone("efficientnet_b0", "imagenet", SHAPE)
