"""Turning training hands round: the features of the turned hand, on a share of hands."""

import numpy as np
import tensorflow as tf

from signpipe.models import features, preprocessing
from signpipe.models.landmark_augmentation import jitter_hands, turn_hands
from signpipe.models.model import augmented, reshuffled, with_varied_hands
from signpipe.pipeline.configs import TrainingConfig


def _hands(count: int) -> np.ndarray:
    """`count` random hands: 63 values each, x and y in the image, z around the wrist's."""
    rng = np.random.default_rng(3)
    points = rng.uniform(0.3, 0.6, (count, features.LANDMARK_COUNT, 3))
    points[:, :, 2] = rng.normal(0.0, 0.05, (count, features.LANDMARK_COUNT))
    points[:, 0, 2] = 0.0  # MediaPipe's z is relative to the wrist
    return points.reshape(count, -1).astype(np.float32)


def _features(hands: np.ndarray, handedness: bytes, aspect: float) -> np.ndarray:
    count = len(hands)
    return preprocessing.landmark_features(
        hands,
        tf.ones([count], tf.int64),
        tf.constant([handedness] * count),
        tf.fill([count], aspect),
    ).numpy()


def test_a_turned_hand_has_the_features_of_the_hand_turned_half_round():
    hands = _hands(4)
    points = hands.reshape(4, features.LANDMARK_COUNT, 3)
    # Half round the vertical line through the wrist: x and depth swap sides, y stays.
    turned = points.copy()
    turned[:, :, 0] = 2 * points[:, :1, 0] - points[:, :, 0]
    turned[:, :, 2] = 2 * points[:, :1, 2] - points[:, :, 2]
    for handedness, aspect in ((b"right", 1.0), (b"left", 4 / 3)):
        before = _features(hands, handedness, aspect)
        expected = _features(turned.reshape(4, -1), handedness, aspect)
        np.testing.assert_allclose(turn_hands(before, 1.0).numpy(), expected, atol=1e-5)
        np.testing.assert_array_equal(turn_hands(before, 0.0).numpy(), before)
    # A mirror is the other hand, not a turn: its features differ from the turned hand's.
    mirrored = points.copy()
    mirrored[:, :, 0] = 1 - points[:, :, 0]
    assert not np.allclose(
        _features(mirrored.reshape(4, -1), b"right", 1.0),
        _features(turned.reshape(4, -1), b"right", 1.0),
    )


def test_no_hand_stays_no_hand():
    zeros = np.zeros((3, features.LANDMARK_FEATURE_SIZE), np.float32)
    assert not turn_hands(zeros, 1.0).numpy().any()
    assert not jitter_hands(zeros, 0.05).numpy().any()


def test_a_jittered_hand_moves_its_landmarks_and_its_distances_follow():
    before = _features(_hands(500), b"right", 1.0)
    after = jitter_hands(before, 0.03, tf.random.Generator.from_seed(1)).numpy()
    points = after[:, : features.LANDMARK_VALUES].reshape(-1, features.LANDMARK_COUNT, 3)
    # The distances are those of the moved landmarks, not the hand's before.
    np.testing.assert_allclose(after, preprocessing.shape_features(points).numpy(), atol=1e-5)
    moved = points - before[:, : features.LANDMARK_VALUES].reshape(points.shape)
    assert not moved[:, 0].any()  # the wrist is the origin and stays there
    assert abs(moved[:, 1:].std() - 0.03) < 0.002 and abs(moved[:, 1:].mean()) < 0.002
    np.testing.assert_allclose(jitter_hands(before, 0.0).numpy(), before, atol=1e-5)


def _dataset(count: int) -> tf.data.Dataset:
    shapes = np.repeat(_features(_hands(1), b"right", 1.0), count, axis=0)
    inputs = {
        features.LANDMARK_FEATURE: shapes,
        features.HAND_FOUND_FEATURE: np.ones((count, 1), np.float32),
    }
    return tf.data.Dataset.from_tensor_slices((inputs, np.zeros(count, np.int64))).batch(50)


def _turned_share(dataset: tf.data.Dataset) -> np.ndarray:
    """Per example, whether its first x coordinate changed sign (the wrist's is 0: use the
    second landmark's)."""
    original = next(iter(_dataset(1)))[0][features.LANDMARK_FEATURE].numpy()[0, 3]
    values = np.concatenate([x[features.LANDMARK_FEATURE].numpy() for x, _ in dataset])
    return np.sign(values[:, 3]) != np.sign(original)


def test_training_turns_the_configured_share_of_hands_anew_each_epoch():
    tf.random.set_seed(0)
    options = TrainingConfig(inputs="landmarks", landmark_turn=0.5, landmark_jitter=0.0)
    dataset = augmented(_dataset(400), options)
    first, second = _turned_share(dataset), _turned_share(dataset)
    assert 0.4 < first.mean() < 0.6 and 0.4 < second.mean() < 0.6
    assert (first != second).any()  # drawn anew on each pass


def test_training_jitters_every_hand_anew_each_epoch():
    options = TrainingConfig(inputs="landmarks", landmark_turn=0.0, landmark_jitter=0.04)
    original = _dataset(1).get_single_element()[0][features.LANDMARK_FEATURE].numpy()
    dataset = augmented(_dataset(200), options)
    first, second = (
        np.concatenate([x[features.LANDMARK_FEATURE].numpy() for x, _ in dataset]) for _ in range(2)
    )
    for epoch in (first, second):
        moved = epoch[:, : features.LANDMARK_VALUES] - original[:, : features.LANDMARK_VALUES]
        assert 0.03 < moved[:, 3:].std() < 0.05  # every landmark but the wrist
    assert not np.allclose(first, second)


def test_the_head_phase_deals_every_example_into_new_batches_each_epoch():
    count = 200
    inputs = {
        features.LANDMARK_FEATURE: np.zeros((count, features.LANDMARK_FEATURE_SIZE), np.float32),
        features.HAND_FOUND_FEATURE: np.ones((count, 1), np.float32),
    }
    cached = tf.data.Dataset.from_tensor_slices((inputs, np.arange(count))).batch(50).cache()
    options = TrainingConfig(inputs="landmarks", landmark_turn=0.0, batch_size=32)
    dataset = reshuffled(cached, options)
    first, second = ([labels.numpy() for _, labels in dataset] for _ in range(2))
    assert [len(batch) for batch in first] == [32] * 6 + [8]
    for epoch in (first, second):
        np.testing.assert_array_equal(np.sort(np.concatenate(epoch)), np.arange(count))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    assert set(first[0]) != set(second[0])  # other examples share a batch


def test_hands_unchanged_when_off_or_without_landmarks():
    plain = _dataset(10)
    off = TrainingConfig(inputs="landmarks", landmark_turn=0.0, landmark_jitter=0.0)
    assert with_varied_hands(plain, off) is plain
    assert with_varied_hands(plain, TrainingConfig(inputs="image")) is plain
