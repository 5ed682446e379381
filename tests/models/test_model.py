"""The classifier and the image decoding shared by Transform and serving."""

import ast
import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from PIL import Image

from signpipe.errors import ConfigError
from signpipe.models import model as model_module
from signpipe.models.head import head_on_features
from signpipe.models.model import (
    augmenter,
    build_classifier,
    pooled_features,
    set_backbone_trainable,
)
from signpipe.models.preprocessing import decode_and_resize
from signpipe.pipeline.configs import TrainingConfig, load_config


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_b0"])
def test_classifier_is_one_flat_model(backbone):
    options = TrainingConfig(
        backbone=backbone, backbone_weights="none", image_size=96, inputs="image"
    )
    model = build_classifier(options, num_classes=5)
    assert not any(isinstance(layer, tf_keras.Model) for layer in model.layers)
    assert model.output_shape == (None, 5)
    out = model(np.full((2, 96, 96, 3), 128.0, np.float32)).numpy()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_phases_freeze_the_right_layers():
    model = build_classifier(
        TrainingConfig(backbone_weights="none", image_size=96, inputs="image"), 3
    )
    assert set_backbone_trainable(model, 0.0) == 0
    assert [w.name.split("/")[0] for w in model.trainable_weights] == ["head_softmax"] * 2
    unfrozen = set_backbone_trainable(model, 0.3)
    assert unfrozen > 0
    trainable = [layer for layer in model.layers if layer.trainable and layer.weights]
    assert not any(isinstance(layer, tf_keras.layers.BatchNormalization) for layer in trainable)
    backbone = [layer for layer in model.layers if not layer.name.startswith("head_")]
    first = next(i for i, layer in enumerate(backbone) if layer.trainable and layer.weights)
    assert first > len(backbone) // 2  # only the top of the backbone trains


def test_a_random_backbone_trains_whole_batch_norm_included():
    model = build_classifier(
        TrainingConfig(backbone_weights="none", image_size=96, inputs="image"), 3
    )
    set_backbone_trainable(model, 1.0, train_batch_norm=True)
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    assert frozen == []
    assert any(isinstance(layer, tf_keras.layers.BatchNormalization) for layer in model.layers)


def test_unknown_backbone_and_mismatched_weights_are_config_errors():
    with pytest.raises(ConfigError, match="unknown"):
        load_config(None, **{"training.backbone": "resnet"})
    with pytest.raises(ConfigError, match="lite0-pretrained"):
        load_config(None, **{"training.backbone": "efficientnet_b0"})


def test_decode_keeps_aspect_by_padding_and_makes_three_channels():
    wide = Image.new("RGB", (100, 50), (200, 10, 10))
    grey = Image.new("L", (30, 30), 90)
    rgba = Image.new("RGBA", (40, 40), (0, 0, 250, 128))
    batch = tf.constant([_png(wide), _png(grey), _png(rgba), _png(wide, "BMP")])
    images = decode_and_resize(batch, 64).numpy()
    assert images.shape == (4, 64, 64, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 255
    # 100x50 becomes 64x32 in the middle, with black bars above and below.
    assert np.all(images[0, :14] == 0) and np.all(images[0, -14:] == 0)
    np.testing.assert_allclose(images[0, 32], [[200, 10, 10]] * 64, atol=1)
    np.testing.assert_allclose(images[1, 32, 32], [90, 90, 90], atol=1)
    np.testing.assert_allclose(images[2, 20, 20], [0, 0, 250], atol=1)
    np.testing.assert_allclose(images[3], images[0], atol=1)


def test_augmentation_scales_how_far_training_images_move():
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (16, 48, 48, 3)), tf.float32)

    def change(strength: float) -> float:
        augment = augmenter(TrainingConfig(augmentation=strength, seed=1))
        return float(tf.reduce_mean(tf.abs(augment(images, training=True) - images)))

    assert change(0.0) == 0.0
    assert 0 < change(1.0) < change(3.0)
    # Outside training the augmenter changes nothing at any strength.
    augment = augmenter(TrainingConfig(augmentation=3.0))
    np.testing.assert_array_equal(augment(images, training=False).numpy(), images.numpy())


def test_the_head_trained_on_cached_features_is_the_classifiers_head(tmp_path):
    tf_keras.utils.set_random_seed(0)
    model = build_classifier(
        TrainingConfig(backbone_weights="none", image_size=96, inputs="image"), 3
    )
    set_backbone_trainable(model, 0.0)
    images = np.random.default_rng(0).uniform(0, 255, (10, 96, 96, 3)).astype(np.float32)
    labels = np.arange(10) % 3
    batches = tf.data.Dataset.from_tensor_slices(({"image": images}, labels)).batch(4)
    features = pooled_features(model, batches, str(tmp_path / "pooled"))
    assert [len(y) for _, y in features] == [4, 4, 2]  # every image, once, labels kept
    np.testing.assert_array_equal(np.concatenate([y for _, y in features]), labels)
    before = model.get_layer("head_softmax").get_weights()[0].copy()
    head = head_on_features(model)
    head.compile(tf_keras.optimizers.Adam(0.1), "sparse_categorical_crossentropy")
    head.fit(features, epochs=2, verbose=0)
    assert not np.allclose(model.get_layer("head_softmax").get_weights()[0], before)
    cached = np.concatenate([head(x, training=False).numpy() for x, _ in features])
    np.testing.assert_allclose(cached, model(images, training=False).numpy(), atol=1e-5)


def _models_imported_by(path: Path) -> set[str]:
    """The `signpipe.models` modules a file imports, at top level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "signpipe.models":
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "signpipe.models."
        ):
            names.add(node.module.split(".")[2])
    return names


def test_the_tfx_user_module_folder_holds_only_what_transform_and_the_trainer_import():
    # TFX packages every .py beside the module file (models/model.py) into the user-module
    # wheel and versions it by their hash: any other file there re-runs both when edited.
    folder = Path(model_module.__file__).parent
    reachable, frontier = set(), {"model", "preprocessing"}
    while frontier:
        name = frontier.pop()
        reachable.add(name)
        frontier |= _models_imported_by(folder / f"{name}.py") - reachable
    assert {path.stem for path in folder.glob("*.py")} - {"__init__"} == reachable
