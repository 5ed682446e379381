"""Hand analysis, the hand crop and landmark features, and the model on image and hand shape."""

import io

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from PIL import Image

from signpipe.components.image_folder_example_gen.hand_analysis import (
    NO_HAND,
    HandAnalyzer,
    HandAnalyzerPerThread,
)
from signpipe.data.synthetic_hands import SyntheticDataSpec, generate_dataset
from signpipe.errors import ConfigError
from signpipe.models import features, preprocessing
from signpipe.models.head import (
    IMAGE_SOFTMAX,
    LANDMARK_SOFTMAX,
    branch_outputs,
    compile_for_training,
    head_on_features,
    training_loss,
)
from signpipe.models.model import build_classifier, pooled_features
from signpipe.pipeline.configs import TrainingConfig, load_config


def _encoded(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _hand(xs, ys) -> np.ndarray:
    """63 landmark values with the given x and y per landmark (z = 0)."""
    points = np.zeros((features.LANDMARK_COUNT, 3), np.float32)
    points[:, 0], points[:, 1] = xs, ys
    return points.ravel()


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """Generated hands with MediaPipe's findings: (image, facts) pairs."""
    root = tmp_path_factory.mktemp("hands")
    generate_dataset(root, SyntheticDataSpec(letters=("B", "L"), images_per_class=12, signers=2))
    analyzer = HandAnalyzer(min_confidence=0.5)
    pairs = []
    for path in sorted(root.glob("*/*")):
        image = np.asarray(Image.open(path).convert("RGB"))
        pairs.append((image, analyzer.analyze(image)))
    analyzer.close()
    return pairs


def test_mediapipe_finds_some_generated_hands_and_reports_the_rest_as_missing(analysed):
    found = [facts for _, facts in analysed if facts.found]
    assert 0 < len(found) < len(analysed)  # the demo data exercises both paths
    for facts in found:
        points = np.reshape(facts.landmarks, (features.LANDMARK_COUNT, 3))
        assert facts.handedness in (features.LEFT, features.RIGHT) and 0 < facts.score <= 1
        assert np.all(points[:, :2] > -0.5) and np.all(points[:, :2] < 1.5)
        assert np.ptp(points[:, 0]) > 0.05  # a hand, not a point
    assert all(facts == NO_HAND for _, facts in analysed if not facts.found)
    assert HandAnalyzer(0.5).analyze(np.zeros((120, 160, 3), np.uint8)) == NO_HAND


def test_each_thread_gets_its_own_analyzer_with_the_same_findings(analysed):
    from concurrent.futures import ThreadPoolExecutor

    per_thread = HandAnalyzerPerThread(min_confidence=0.5)
    images = [image for image, _ in analysed]
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = list(
            pool.map(
                lambda image: (per_thread.analyzer(), per_thread.analyzer().analyze(image)), images
            )
        )
    analyzers = {id(analyzer) for analyzer, _ in found}
    assert 1 <= len(analyzers) <= 2  # one per thread, reused for that thread's images
    assert [facts for _, facts in found] == [facts for _, facts in analysed]
    per_thread.close()
    assert all(analyzer._hands is None for analyzer, _ in found)  # every graph freed


def _close_up(image: np.ndarray, landmarks: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The image cut tight around the landmarks (10% margin), and its (x0, y0) offset."""
    height, width = image.shape[:2]
    points = np.reshape(landmarks, (features.LANDMARK_COUNT, 3))[:, :2] * [width, height]
    margin = 0.1 * np.ptp(points, axis=0).max()
    x0, y0 = np.maximum(points.min(axis=0) - margin, 0).astype(int)
    x1, y1 = np.minimum(points.max(axis=0) + margin, [width, height]).astype(int)
    return np.ascontiguousarray(image[y0:y1, x0:x1]), np.array([x0, y0])


def test_hands_filling_the_frame_are_found_and_their_landmarks_map_to_the_frame(analysed):
    import mediapipe as mp

    plain = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1)
    analyzer = HandAnalyzer(0.5)
    found_plain = found = 0
    for image, facts in analysed:
        if not facts.found:
            continue
        close_up, offset = _close_up(image, facts.landmarks)
        found_plain += bool(plain.process(close_up).multi_hand_landmarks)
        again = analyzer.analyze(close_up)
        if not again.found:
            continue
        found += 1
        size = np.array(close_up.shape[1::-1])
        mapped = np.reshape(again.landmarks, (features.LANDMARK_COUNT, 3))[:, :2] * size + offset
        expected = np.reshape(facts.landmarks, (features.LANDMARK_COUNT, 3))[:, :2]
        error = np.abs(mapped - expected * image.shape[1::-1]).mean()
        assert error < 0.1 * size.max(), error
    assert found > found_plain  # the retry on a black border finds close-ups


def test_crop_is_a_square_around_the_landmarks_and_the_frame_when_no_hand():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[40:60, 120:140] = (250, 0, 0)  # the "hand": a red square
    landmarks = _hand(np.linspace(0.6, 0.7, 21), np.linspace(0.4, 0.6, 21))
    encoded = tf.constant([_encoded(Image.fromarray(frame))] * 2)
    crops, aspects = preprocessing.hand_crops(
        encoded, np.stack([landmarks, landmarks]), tf.constant([1, 0]), 32
    )
    np.testing.assert_allclose(aspects.numpy(), [2.0, 2.0])
    box = preprocessing.hand_box(landmarks, 1, 100, 200).numpy()
    side = 20 * features.HAND_BOX_SCALE
    np.testing.assert_allclose(
        box, [50 - side / 2, 130 - side / 2, 50 + side / 2, 130 + side / 2], atol=1e-3
    )
    hand = crops[0].numpy()
    assert hand[16, 16, 0] > 240 and hand[16, 16, 1] < 10  # the red square fills the centre
    assert hand[0, 0].max() < 10  # and black lies around it
    np.testing.assert_allclose(
        crops[1].numpy(), preprocessing.decode_and_resize(encoded[1:], 32)[0]
    )
    whole = crops[1].numpy()
    assert np.all(whole[:7] == 0) and np.all(whole[-7:] == 0)  # padded, not stretched


def test_a_box_leaving_the_frame_is_padded_black():
    frame = np.full((60, 60, 3), 200, np.uint8)
    corner = _hand(np.linspace(0.0, 0.2, 21), np.linspace(0.0, 0.2, 21))
    crops, _ = preprocessing.hand_crops(
        tf.constant([_encoded(Image.fromarray(frame))]), corner[np.newaxis], tf.constant([1]), 40
    )
    crop = crops[0].numpy()
    assert crop[2, 2].max() < 10 and crop[-3, -3].min() > 190


def test_landmark_features_ignore_position_size_aspect_and_which_hand():
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(0.3, 0.5, 21), rng.uniform(0.3, 0.5, 21)
    square = _hand(xs, ys)
    moved_bigger = _hand(0.1 + 1.5 * (xs - 0.3), 0.2 + 1.5 * (ys - 0.3))
    # The same hand in a frame twice as wide: normalised x halves.
    wide = _hand(xs / 2, ys)
    # The other hand: mirrored in the image, reported as left.
    mirrored = _hand(1 - xs, ys)
    values = preprocessing.landmark_features(
        np.stack([square, moved_bigger, wide, mirrored, square]),
        tf.constant([1, 1, 1, 1, 0]),
        tf.constant([b"right", b"right", b"right", b"left", b"right"]),
        tf.constant([1.0, 1.0, 2.0, 1.0, 1.0]),
    ).numpy()
    for same in values[1:4]:
        np.testing.assert_allclose(same, values[0], atol=1e-5)
    coordinates = values[0, : features.LANDMARK_VALUES].reshape(-1, 3)
    farthest = np.linalg.norm(coordinates[:, :2], axis=1).max()
    assert farthest == pytest.approx(1.0, abs=1e-5)  # scaled by the hand
    assert not values[4].any()  # no hand: no features
    right_as_left = preprocessing.landmark_features(
        square[np.newaxis], tf.constant([1]), tf.constant([b"left"]), tf.constant([1.0])
    ).numpy()
    assert not np.allclose(right_as_left[0], values[0])


def _turned(xs, ys, angle: float, centre: float = 0.5):
    """The points turned by `angle` about (centre, centre) on screen (y grows downwards)."""
    cos, sin = np.cos(angle), np.sin(angle)
    x, y = xs - centre, ys - centre
    return centre + cos * x - sin * y, centre + sin * x + cos * y


def test_landmark_features_count_the_hands_tilt_twice():
    """Some letters are one handshape at two tilts: a hand tilted by t reads as tilted by 2t,
    an upright one as it is, and the distances do not change."""
    rng = np.random.default_rng(3)
    xs, ys = rng.uniform(0.3, 0.7, 21), rng.uniform(0.3, 0.7, 21)
    xs[0], ys[0] = 0.5, 0.5  # the wrist
    xs[features.MIDDLE_KNUCKLE], ys[features.MIDDLE_KNUCKLE] = 0.5, 0.3  # straight above it
    tilts = (0.0, 0.4, -0.8)
    values = preprocessing.landmark_features(
        np.stack([_hand(*_turned(xs, ys, tilt)) for tilt in tilts]),
        tf.ones([3], tf.int64),
        tf.constant([b"right"] * 3),
        tf.ones([3]),
    ).numpy()
    points = values[:, : features.LANDMARK_VALUES].reshape(3, -1, 3)
    upright = np.stack([xs - 0.5, ys - 0.5], axis=1)
    np.testing.assert_allclose(points[0, :, :2], upright / np.hypot(*upright.T).max(), atol=1e-5)
    for tilt, tilted in zip(tilts[1:], points[1:], strict=True):
        expected = _turned(points[0, :, 0], points[0, :, 1], 2 * tilt, centre=0.0)
        np.testing.assert_allclose(tilted[:, :2], np.stack(expected, axis=1), atol=1e-5)
    np.testing.assert_allclose(
        values[1:, features.LANDMARK_VALUES :], values[:2, features.LANDMARK_VALUES :], atol=1e-5
    )


def _inputs(batch: int, found: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        features.IMAGE_FEATURE: rng.uniform(0, 255, (batch, 96, 96, 3)).astype(np.float32),
        features.LANDMARK_FEATURE: rng.normal(size=(batch, features.LANDMARK_FEATURE_SIZE)).astype(
            np.float32
        )
        * found,
        features.HAND_FOUND_FEATURE: np.full((batch, 1), found, np.float32),
    }


@pytest.mark.parametrize(
    "inputs, names",
    [
        ("image", ["image"]),
        ("landmarks", ["landmarks", "hand_found"]),
        ("both", ["image", "landmarks", "hand_found"]),
    ],
)
def test_model_takes_the_inputs_it_was_configured_for(inputs, names):
    model = build_classifier(
        TrainingConfig(inputs=inputs, backbone_weights="none", image_size=96), 4
    )
    assert model.input_names == names
    assert not any(isinstance(layer, tf_keras.Model) for layer in model.layers)  # flat
    data = _inputs(3)
    out = model({name: data[name] for name in names}, training=False).numpy()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def _branches(model: tf_keras.Model, data: dict) -> tuple[np.ndarray, ...]:
    """(answer, image softmax, landmark softmax, found) of a fused model."""
    outputs = branch_outputs(model)(data, training=False).numpy()
    classes = model.output_shape[-1]
    return tuple(np.split(outputs, [classes, 2 * classes, 3 * classes], axis=1))


def test_the_answer_mixes_the_branches_and_is_the_image_branchs_without_a_hand():
    tf_keras.utils.set_random_seed(0)
    options = TrainingConfig(inputs="both", backbone_weights="none", image_size=96)
    model = build_classifier(options, 4)
    no_hand = _inputs(4, found=0.0)
    noisy = {
        **no_hand,
        features.LANDMARK_FEATURE: np.ones((4, features.LANDMARK_FEATURE_SIZE), np.float32),
    }
    answer, image, _, found = _branches(model, noisy)
    np.testing.assert_allclose(answer, image, atol=1e-6)  # landmarks unused without a hand
    np.testing.assert_allclose(answer, model(no_hand, training=False).numpy(), atol=1e-6)
    assert not found.any()

    with_hand = _inputs(4)
    answer, image, hand, found = _branches(model, with_hand)
    share = options.landmark_share
    np.testing.assert_allclose(answer, (1 - share) * image + share * hand, atol=1e-6)
    np.testing.assert_allclose(answer, model(with_hand, training=False).numpy(), atol=1e-6)
    assert found.all() and not np.allclose(image, hand)


def test_each_branch_trains_on_its_own_loss_and_landmarks_only_with_a_hand():
    classes = 3
    loss = training_loss(0.0, classes, fused=True)
    image = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]], np.float32)
    hand = np.array([[0.4, 0.4, 0.2], [0.1, 0.1, 0.8]], np.float32)
    answer = np.full_like(image, 1 / classes)  # what the mix says does not enter the loss
    outputs = np.concatenate([answer, image, hand, [[1.0], [0.0]]], axis=1)
    labels = np.array([0, 1])
    expected = [-np.log(0.7) - np.log(0.4), -np.log(0.5)]  # the second has no hand
    np.testing.assert_allclose(loss(labels, outputs).numpy(), expected, rtol=1e-5)
    smoothed = training_loss(0.1, classes, fused=True)(labels, outputs).numpy()
    assert (smoothed != loss(labels, outputs).numpy()).all()


def test_fitting_a_fused_model_trains_both_branches_and_reports_the_answers_accuracy():
    tf_keras.utils.set_random_seed(0)
    model = build_classifier(
        TrainingConfig(inputs="both", backbone_weights="none", image_size=96), 3
    )
    before = {
        name: model.get_layer(name).get_weights()[0].copy()
        for name in (IMAGE_SOFTMAX, LANDMARK_SOFTMAX)
    }
    data, labels = _inputs(8), np.arange(8) % 3
    training = compile_for_training(model, 1e-2, 0.0)
    history = training.fit(data, labels, epochs=2, batch_size=4, verbose=0).history
    assert set(history) == {"loss", "accuracy"}  # the Trainer's history and progress read these
    for name, weights in before.items():
        assert not np.allclose(model.get_layer(name).get_weights()[0], weights), name
    answers = model(data, training=False).numpy().argmax(axis=1)
    assert training.evaluate(data, labels, verbose=0, return_dict=True)["accuracy"] == (
        pytest.approx((answers == labels).mean())
    )


def test_the_fused_head_on_cached_features_is_the_models_head(tmp_path):
    tf_keras.utils.set_random_seed(0)
    model = build_classifier(
        TrainingConfig(inputs="both", backbone_weights="none", image_size=96), 3
    )
    data = _inputs(6)
    labels = np.arange(6) % 3
    batches = tf.data.Dataset.from_tensor_slices((data, labels)).batch(4)
    cached = pooled_features(model, batches, str(tmp_path / "pooled"))
    head = head_on_features(model)
    assert head.input_names == ["pooled_features", "landmarks", "hand_found"]
    from_cache = np.concatenate([head(x, training=False).numpy() for x, _ in cached])
    np.testing.assert_allclose(from_cache, model(data, training=False).numpy(), atol=1e-5)


def test_inputs_are_checked():
    with pytest.raises(ConfigError, match=r"training\.inputs 'pixels' is unknown"):
        load_config(None, **{"training.inputs": "pixels"})
    with pytest.raises(ConfigError, match="needs landmarks"):
        load_config(None, **{"data.hand_analysis": False})
    assert load_config(None, **{"data.hand_analysis": False, "training.inputs": "image"})
