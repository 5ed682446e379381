"""The landmark features are standardized inside the model, from the training split's hands."""

import numpy as np
import tensorflow as tf
import tf_keras

from signpipe.models import features
from signpipe.models.landmark_scaling import (
    LANDMARK_STANDARDIZER,
    LandmarkScaling,
    landmark_scaling,
)
from signpipe.models.model import build_classifier, load_classifier
from signpipe.pipeline.configs import TrainingConfig

SIZE = features.LANDMARK_FEATURE_SIZE


def _hands(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Landmark features with a different mean and spread per feature, and the found flags
    (every fourth example without a hand: zeros)."""
    rng = np.random.default_rng(seed)
    found = (np.arange(count) % 4 != 0).astype(np.float32)[:, np.newaxis]
    values = rng.normal(np.linspace(-1, 2, SIZE), np.linspace(0.01, 0.5, SIZE), (count, SIZE))
    values[:, 0] = 0.0  # the wrist's own relative x: always 0
    return (values * found).astype(np.float32), found


def test_hands_found_get_mean_0_and_variance_1_and_the_rows_without_a_hand_are_ignored():
    landmarks, found = _hands(400)
    scaling = LandmarkScaling.of(landmarks, found)
    standardized = landmarks * np.array(scaling.scale) + np.array(scaling.offset)
    with_hand = standardized[found[:, 0] > 0.5]
    np.testing.assert_allclose(with_hand[:, 1:].mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(with_hand[:, 1:].std(axis=0), 1.0, atol=1e-4)
    assert scaling.scale[0] == 1.0 and scaling.offset[0] == 0.0  # a constant is only centred


def test_without_any_hand_the_scaling_changes_nothing():
    landmarks, found = _hands(8)
    assert LandmarkScaling.of(landmarks, np.zeros_like(found)) == LandmarkScaling.identity()


def test_the_scaling_is_read_from_the_datasets_batches_and_only_for_a_model_with_landmarks():
    landmarks, found = _hands(40)
    inputs = {features.LANDMARK_FEATURE: landmarks, features.HAND_FOUND_FEATURE: found}
    batches = tf.data.Dataset.from_tensor_slices((inputs, np.zeros(40))).batch(16)
    names = features.MODEL_INPUTS["both"]
    read, whole = landmark_scaling(batches, names), LandmarkScaling.of(landmarks, found)
    np.testing.assert_allclose(read.scale, whole.scale, rtol=1e-9)
    np.testing.assert_allclose(read.offset, whole.offset, rtol=1e-9, atol=1e-12)
    assert landmark_scaling(batches, features.MODEL_INPUTS["image"]) is None


def test_the_model_standardizes_hands_keeps_no_hand_silent_and_saves_the_scaling(tmp_path):
    tf_keras.utils.set_random_seed(0)
    landmarks, found = _hands(12)
    scaling = LandmarkScaling.of(landmarks, found)
    model = build_classifier(TrainingConfig(inputs="landmarks"), 3, scaling)
    layer = model.get_layer(LANDMARK_STANDARDIZER)
    expected = landmarks * np.array(scaling.scale) + np.array(scaling.offset)
    np.testing.assert_allclose(layer(landmarks).numpy(), expected, rtol=1e-5, atol=1e-5)

    inputs = {features.LANDMARK_FEATURE: landmarks, features.HAND_FOUND_FEATURE: found}
    no_hand = {
        features.LANDMARK_FEATURE: np.ones_like(landmarks),  # ignored: no hand was found
        features.HAND_FOUND_FEATURE: np.zeros_like(found),
    }
    silent = model({**inputs, **no_hand}, training=False).numpy()
    np.testing.assert_allclose(silent, silent[:1].repeat(len(silent), axis=0), atol=1e-6)

    model.save(str(tmp_path), save_format="tf", save_traces=False)
    loaded = load_classifier(str(tmp_path))
    np.testing.assert_allclose(
        loaded(inputs, training=False).numpy(),
        model(inputs, training=False).numpy(),
        atol=1e-6,
    )
