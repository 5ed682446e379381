"""TFLite variants: each converts with every model input, loads and classifies; int8 is
integer-only; failures stay local.

The models are build_classifier's (its head: the landmark standardization, Dense, Dropout,
Multiply, a softmax per branch and their mix) on a tiny stand-in for the backbone; Lite0
goes through float32, int8 and qat_int8 in test_model_pipeline.
"""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from signpipe.components.tflite_exporter import (
    converters,
    input_docs,
    measure,
    qat,
    variants_page,
)
from signpipe.components.tflite_exporter.split_data import _sampled
from signpipe.components.tflite_exporter.tflite_classifier import TFLiteClassifier
from signpipe.errors import ConfigError
from signpipe.models import features, preprocessing
from signpipe.models import model as model_module
from signpipe.models.head import IMAGE_SOFTMAX, LANDMARK_SOFTMAX
from signpipe.models.landmark_scaling import LandmarkScaling
from signpipe.models.model import build_classifier
from signpipe.pipeline.configs import TrainingConfig

SIZE = 32
CLASSES = 3
EXAMPLES = 12
VARIANTS = ("float32", "dynamic_range", "float16", "int8", "qat_int8")
# Each softmax kernel's factor, so that answers differ by input (asserted below): random
# pooled features of noise images barely move the logits; standardized landmarks do.
SHARPEN = {IMAGE_SOFTMAX: 20.0, LANDMARK_SOFTMAX: 5.0}
# Largest difference from the Keras model's probabilities, per variant. qat_int8 also
# carries its fine-tune: on the landmark model, 0.06-0.12 over fine-tune seeds.
TOLERANCE = {"float32": 1e-4, "dynamic_range": 0.05, "float16": 0.01, "int8": 0.1, "qat_int8": 0.15}


@dataclasses.dataclass(frozen=True)
class _ArrayStream:
    """A SplitStream of examples already in memory, in batches of 5 (picklable: it goes to
    the second process as a SplitStream does)."""

    inputs: dict[str, np.ndarray]

    def batches(self):
        count = len(next(iter(self.inputs.values())))
        for start in range(0, count, 5):
            batch = {name: values[start : start + 5] for name, values in self.inputs.items()}
            yield batch, np.zeros(len(next(iter(batch.values()))), np.int64)


def _tiny_backbone(name: str, weights: str, shape: tuple[int, int, int]) -> tf_keras.Model:
    """The backbone's kinds of layers (input normalisation, conv, BatchNorm, ReLU6), small."""
    inputs = tf_keras.Input(shape, name=features.IMAGE_FEATURE)
    x = tf_keras.layers.Rescaling(1 / 128.0, -127 / 128.0, name="normalize")(inputs)
    x = tf_keras.layers.Conv2D(8, 3, strides=2, use_bias=False)(x)
    x = tf_keras.layers.BatchNormalization()(x)
    x = tf_keras.layers.ReLU(6.0)(x)
    x = tf_keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = tf_keras.layers.BatchNormalization()(x)
    return tf_keras.Model(inputs, tf_keras.layers.ReLU(6.0)(x))


def _classifier(inputs: str) -> tf_keras.Model:
    """build_classifier on the tiny backbone, with a sharp softmax: answers differ by input;
    the landmarks standardized as the Trainer does, from the examples with a hand."""
    tf_keras.utils.set_random_seed(0)
    options = TrainingConfig(inputs=inputs, image_size=SIZE, backbone_weights="none")
    data = _data(features.MODEL_INPUTS["both"])
    scaling = LandmarkScaling.of(data[features.LANDMARK_FEATURE], data[features.HAND_FOUND_FEATURE])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model_module, "build_backbone", _tiny_backbone)
        model = build_classifier(options, CLASSES, scaling)
    for layer in model.layers:
        if layer.name in SHARPEN:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * SHARPEN[layer.name], bias])
    return model


def _data(names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Inputs as Transform makes them: tinted noise images (0-255), landmark features of
    random hands, every third example without a hand (zeros, hand_found 0)."""
    rng = np.random.default_rng(0)
    found = np.arange(EXAMPLES) % 3 != 0
    handedness = np.where(np.arange(EXAMPLES) % 2 == 0, features.LEFT, features.RIGHT)
    landmarks = rng.uniform(0.2, 0.8, (EXAMPLES, features.LANDMARK_VALUES))
    tints = rng.uniform(0.1, 1.0, (EXAMPLES, 1, 1, 3))  # pooled features differ by image
    tints[0] = 1.0  # one image spans 0-255
    data = {
        features.IMAGE_FEATURE: rng.uniform(0, 255, (EXAMPLES, SIZE, SIZE, 3)) * tints,
        features.LANDMARK_FEATURE: preprocessing.landmark_features(
            tf.constant(landmarks * found[:, np.newaxis], tf.float32),
            tf.constant(found.astype(np.int64)),
            tf.constant(np.where(found, handedness, features.NO_HAND)),
            tf.fill([EXAMPLES], 4 / 3),
        ).numpy(),
        features.HAND_FOUND_FEATURE: found[:, np.newaxis],
    }
    return {name: data[name].astype(np.float32) for name in names}


@pytest.fixture(scope="module")
def hand_models() -> dict[str, tf_keras.Model]:
    return {inputs: _classifier(inputs) for inputs in features.MODEL_INPUTS}


def _convert(model: tf_keras.Model, variant: str, data: dict[str, np.ndarray]) -> bytes:
    """The variant's flatbuffer, as the executor makes it (QAT: one short epoch)."""
    if variant == "qat_int8":
        labels = np.arange(EXAMPLES) % CLASSES
        batches = tf.data.Dataset.from_tensor_slices((data, labels)).batch(6)
        tf_keras.utils.set_random_seed(0)  # its dropout draws, whatever ran before
        model = qat.quantization_aware_fine_tune(model, batches, data, epochs=1, learning_rate=1e-5)
    with converters.saved_signature(model) as saved:
        return converters.convert(saved, variant, data)


def _write(tmp_path, name: str, content: bytes) -> str:
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("inputs", ["both", "landmarks", "image"])
def test_every_variant_takes_the_models_inputs_by_name(inputs, variant, hand_models, tmp_path):
    model = hand_models[inputs]
    data = _data(tuple(model.input_names))
    content = _convert(model, variant, data)
    tflite = TFLiteClassifier(_write(tmp_path, variant, content))
    assert tflite.input_names == features.MODEL_INPUTS[inputs]
    assert tflite.image_size == (SIZE if inputs != "landmarks" else None)

    expected = model(data, training=False).numpy()
    assert np.ptp(expected.max(axis=1)) > 0.2  # the answers depend on the inputs
    # Keys the model does not take are ignored: the three transformed features fit any model.
    probabilities = tflite.probabilities({**_data(tuple(features.MODEL_INPUTS["both"])), **data})
    assert probabilities.shape == (EXAMPLES, CLASSES)
    np.testing.assert_allclose(probabilities, expected, atol=TOLERANCE[variant])

    labels = expected.argmax(axis=1)
    first = {name: values[0] for name, values in data.items()}
    predicted = converters.classify(tflite.path, _ArrayStream(data))
    np.testing.assert_array_equal(predicted, probabilities.argmax(axis=1))
    measured = measure.measure(tflite.path, first, labels, labels, 2, predicted)
    assert measured["agreement"] >= 0.9
    assert measured["latency"]["one_thread"]["median_ms"] > 0
    details = measured["inputs"]
    assert list(details) == list(tflite.input_names)
    if variant in ("int8", "qat_int8"):
        assert converters.float_ops(content) == []
        assert {d["dtype"] for d in details.values()} == {"uint8"}
        output = tflite.interpreter.get_output_details()[0]
        assert np.dtype(output["dtype"]) == np.uint8
        if inputs != "landmarks":  # raw pixels in
            assert details["image"]["scale"] == pytest.approx(1.0, rel=0.02)
            assert abs(details["image"]["zero_point"]) <= 1
    else:
        assert {d["dtype"] for d in details.values()} == {"float32"}
        assert converters.float_ops(content)  # the check sees float ops


def test_qat_trains_what_the_trainer_left_trainable_and_keeps_the_rest_as_it_was():
    """The frozen part is computed once per image and never changes; the rest learns."""
    model = _classifier("both")
    model_module.set_backbone_trainable(model, 0.5)
    data = _data(tuple(model.input_names))
    labels = (np.arange(EXAMPLES) + 1) % CLASSES  # not what the model answers: it must learn
    trained = {w.name for w in model.trainable_weights}
    assert trained and len(trained) < len({w.name for w in model.weights if w.trainable})
    before = {w.name: w.numpy() for w in model.weights}

    batches = tf.data.Dataset.from_tensor_slices((data, labels)).batch(6)
    aware = qat.quantization_aware_fine_tune(model, batches, data, epochs=3, learning_rate=1e-2)

    kernels = {w.name: w.numpy() for w in aware.weights if w.name in before}
    moved = {name for name, value in kernels.items() if not np.array_equal(value, before[name])}
    assert moved == trained
    with converters.saved_signature(aware) as saved:
        content = converters.convert(saved, "qat_int8", data)
    assert converters.float_ops(content) == []


def test_int8_refuses_inputs_that_are_zero_in_every_representative_example(hand_models):
    model = hand_models["landmarks"]
    no_hands = {name: np.zeros_like(v) for name, v in _data(tuple(model.input_names)).items()}
    with (
        converters.saved_signature(model) as saved,
        pytest.raises(converters.ConversionError, match=r"landmarks.*hand_found.*cannot be"),
    ):
        converters.convert(saved, "int8", no_hands)


def test_missing_or_misshapen_inputs_are_named(hand_models, tmp_path):
    model = hand_models["landmarks"]
    data = _data(tuple(model.input_names))
    with converters.saved_signature(model) as saved:
        tflite = TFLiteClassifier(_write(tmp_path, "f", converters.convert(saved, "float32")))
    with pytest.raises(ConfigError, match=r"\['hand_found'\] not given"):
        tflite.probabilities({"landmarks": data["landmarks"]})
    with pytest.raises(
        ConfigError,
        match=rf"'landmarks' must be \[N, \.\.\.\] \[{features.LANDMARK_FEATURE_SIZE}\]",
    ):
        tflite.probabilities({**data, "landmarks": data["landmarks"][:, :21]})
    with pytest.raises(ConfigError, match="different numbers of examples"):
        tflite.probabilities({**data, "hand_found": data["hand_found"][:2]})


def test_the_report_says_what_a_phone_feeds_each_input(hand_models):
    docs = input_docs.describe(hand_models["both"])
    assert {name: spec["shape"] for name, spec in docs["inputs"].items()} == {
        "image": [SIZE, SIZE, 3],
        "landmarks": [features.LANDMARK_FEATURE_SIZE],
        "hand_found": [1],
    }
    assert f"{features.HAND_BOX_SCALE} x the larger" in docs["inputs"]["image"]["how"]
    report = {
        "split": "test",
        "images": 4,
        "saved_model_accuracy": 0.5,
        "max_drop_from_saved_model": 0.01,
        "representative_images": 4,
        "representative_hands_found": 3,
        "inputs": docs,
        "variants": {},
    }
    page = variants_page.render(report)
    assert "3 of them with a hand found" in page and "<code>hand_found</code> [1]" in page


def test_a_model_trained_without_hand_analysis_is_documented_as_taking_whole_frames(
    hand_models,
):
    docs = input_docs.describe(hand_models["image"], hand_crop=False)
    assert list(docs["inputs"]) == ["image"]
    how = docs["inputs"]["image"]["how"]
    assert how.startswith("The whole frame") and "landmark" not in how
    assert "Do not run a hand landmarker" in docs["source"]
    assert "MediaPipe" in input_docs.describe(hand_models["image"])["source"]


def test_the_documented_recipes_are_what_transform_computes():
    """input_docs' landmark features and crop box, followed step by step, match Transform."""
    width, height, aspect = 640, 480, 640 / 480
    points = np.random.default_rng(1).uniform(0.1, 0.9, (2, features.LANDMARK_COUNT, 3))
    hands = [features.LEFT, features.RIGHT]
    expected = []
    for one, hand in zip(points, hands, strict=True):
        relative = one * [aspect, 1.0, aspect]
        relative = relative - relative[0]
        relative /= max(np.hypot(relative[:, 0], relative[:, 1]).max(), 1e-6)
        if hand == features.LEFT:
            relative[:, 0] *= -1
        knuckle = relative[features.MIDDLE_KNUCKLE, :2]
        sin, cos = knuckle * [1, -1] / np.hypot(*knuckle)
        x, y = relative[:, 0].copy(), relative[:, 1].copy()
        relative[:, 0], relative[:, 1] = cos * x - sin * y, sin * x + cos * y
        count = features.LANDMARK_COUNT
        pairs = [(i, j) for i in range(count) for j in range(i + 1, count)]
        gaps = [np.sqrt(np.sum((relative[i] - relative[j]) ** 2) + 1e-12) for i, j in pairs]
        expected.append(np.concatenate([relative.ravel(), gaps]))
    got = preprocessing.landmark_features(
        tf.constant(points.reshape(2, -1), tf.float32),
        tf.constant([1, 1]),
        tf.constant(hands),
        tf.constant([aspect, aspect]),
    )
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)

    xs, ys = points[0, :, 0] * width, points[0, :, 1] * height
    centre = [(ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2]
    side = max(features.HAND_BOX_SCALE * max(np.ptp(xs), np.ptp(ys)), 16)
    box = preprocessing.hand_box(tf.constant(points[0].ravel()), 1, height, width).numpy()
    np.testing.assert_allclose(
        box, [*(np.array(centre) - side / 2), *(np.array(centre) + side / 2)], rtol=1e-5
    )
    no_hand = preprocessing.hand_box(tf.zeros([features.LANDMARK_VALUES]), 0, height, width)
    np.testing.assert_allclose(no_hand.numpy(), [-80, 0, 560, 640])  # the frame, centred


@pytest.mark.parametrize("second_process", [False, True])
def test_a_model_with_no_integer_kernel_fails_that_variant_only(second_process, tmp_path):
    """Also when the variants convert in a second process (beside QAT): the error comes back,
    and the variant that converted classifies the test inputs as its own file does."""
    images = _data((features.IMAGE_FEATURE,))
    inputs = tf_keras.Input((SIZE, SIZE, 3), name="image")
    x = tf_keras.layers.Conv2D(4, 3)(inputs)
    x = tf_keras.layers.Lambda(tf.math.sin)(x)  # TFLite has SIN in float only
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(CLASSES, activation="softmax")(x))
    with (
        converters.saved_signature(model) as saved,
        converters.PostTrainingConversions(
            saved, ["float32", "int8"], images, second_process, test=_ArrayStream(images)
        ) as conversions,
    ):
        with pytest.raises(converters.ConversionError, match="SIN"):
            conversions.result("int8")
        float_model = conversions.result("float32")
    probabilities = TFLiteClassifier(_write(tmp_path, "f", float_model.content)).probabilities(
        images
    )
    assert probabilities.shape == (EXAMPLES, CLASSES)
    assert np.ptp(probabilities.max(axis=1)) > 0  # the classes below depend on the image
    np.testing.assert_array_equal(float_model.classes, probabilities.argmax(axis=1))


def test_conversions_without_test_inputs_classify_nothing():
    images = _data((features.IMAGE_FEATURE,))
    inputs = tf_keras.Input((SIZE, SIZE, 3), name="image")
    x = tf_keras.layers.GlobalAveragePooling2D()(inputs)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(CLASSES, activation="softmax")(x))
    with (
        converters.saved_signature(model) as saved,
        converters.PostTrainingConversions(saved, ["float32"], images, False) as conversions,
    ):
        assert conversions.result("float32").classes is None


def test_the_gate_blesses_within_the_bound_only():
    ok = measure.judge({"accuracy": 0.905}, 0.91, 0.01)
    assert ok["blessed"] and ok["why"] == ""
    dropped = measure.judge({"accuracy": 0.89, "images": 1000}, 0.91, 0.01)
    assert not dropped["blessed"] and "2.00 points below" in dropped["why"]
    assert "One image" not in dropped["why"]
    one_image = measure.judge({"accuracy": 35 / 36, "images": 36}, 1.0, 0.01)
    assert not one_image["blessed"]  # the bound holds, however few the images
    assert "One image of the 36 measured is 2.78 points" in one_image["why"]


def test_a_file_that_is_not_a_signpipe_model_is_named(tmp_path):
    path = tmp_path / "x.tflite"
    path.write_bytes(b"not a flatbuffer")
    with pytest.raises(ConfigError, match=r"x\.tflite"):
        TFLiteClassifier(str(path))


def test_a_sample_of_a_split_is_the_same_on_every_run_and_holds_only_indices(tmp_path):
    path = str(tmp_path / "records.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for index in range(50):
            writer.write(str(index).encode())
    records = tf.data.TFRecordDataset(path, compression_type="GZIP")
    drawn = [int(record) for record in _sampled(records, 10).as_numpy_iterator()]
    assert len(set(drawn)) == 10 and drawn == sorted(drawn)  # distinct, in file order
    assert drawn != list(range(10))  # drawn from the whole split, not its head
    assert [int(r) for r in _sampled(records, 10).as_numpy_iterator()] == drawn
    assert [int(r) for r in _sampled(records, 80).as_numpy_iterator()] == list(range(50))
