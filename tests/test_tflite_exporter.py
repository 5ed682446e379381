"""TFLite variants: each converts, loads and classifies; int8 is integer; failures stay local.

Quantization-aware training is covered end to end by test_model_pipeline.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from signpipe.components.tflite_exporter import converters
from signpipe.components.tflite_exporter.executor import Executor
from signpipe.components.tflite_exporter.tflite_classifier import TFLiteClassifier
from signpipe.errors import ConfigError

SIZE = 96
CLASSES = 3


@pytest.fixture(scope="module")
def classifier() -> tf_keras.Model:
    """A small model of the classifier's kinds of layers (Lite0 itself: test_model_pipeline)."""
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((SIZE, SIZE, 3), name="image")
    x = tf_keras.layers.Rescaling(1 / 128.0, -127 / 128.0, name="normalize")(inputs)
    x = tf_keras.layers.Conv2D(8, 3, strides=2, use_bias=False)(x)
    x = tf_keras.layers.BatchNormalization()(x)
    x = tf_keras.layers.ReLU(6.0)(x)
    x = tf_keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = tf_keras.layers.BatchNormalization()(x)
    x = tf_keras.layers.ReLU(6.0)(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(CLASSES, activation="softmax")(x))


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (8, SIZE, SIZE, 3)).astype(np.float32)


def _write(tmp_path, name: str, content: bytes) -> str:
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize("variant", ["float32", "dynamic_range", "float16", "int8"])
def test_post_training_variants_load_and_classify(variant, classifier, images, tmp_path):
    with converters.saved_signature(classifier) as saved:
        content = converters.convert(saved, variant, lambda: iter(images))
    model = TFLiteClassifier(_write(tmp_path, variant, content))
    assert model.image_size == SIZE
    probabilities = model.probabilities(images[:3])
    assert probabilities.shape == (3, CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.02)
    if variant == "int8":
        assert model.input_dtype == np.uint8
        assert converters.float_ops(content) == []
        details = model.interpreter.get_output_details()[0]
        assert np.dtype(details["dtype"]) == np.uint8
        scale, zero_point = model.interpreter.get_input_details()[0]["quantization"]
        assert scale == pytest.approx(1.0, rel=0.02) and abs(zero_point) <= 1  # raw pixels in
    else:
        assert model.input_dtype == np.float32
    if variant == "float32":
        assert "CONV_2D" in converters.float_ops(content)  # the check sees float ops
        np.testing.assert_allclose(
            probabilities, classifier(images[:3]).numpy(), rtol=1e-3, atol=1e-4
        )


def test_a_model_with_no_integer_kernel_fails_that_variant_only(images, tmp_path):
    inputs = tf_keras.Input((SIZE, SIZE, 3), name="image")
    x = tf_keras.layers.Conv2D(4, 3)(inputs)
    x = tf_keras.layers.Lambda(tf.math.sin)(x)  # TFLite has SIN in float only
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(CLASSES, activation="softmax")(x))
    with converters.saved_signature(model) as saved:
        float_model = converters.convert(saved, "float32")
        with pytest.raises(converters.ConversionError, match="SIN"):
            converters.convert(saved, "int8", lambda: iter(images))
    assert TFLiteClassifier(_write(tmp_path, "f", float_model)).probabilities(images).shape == (
        len(images),
        CLASSES,
    )


def test_the_gate_blesses_within_the_bound_only():
    ok = Executor._judge({"accuracy": 0.905}, 0.91, 0.01)
    assert ok["blessed"] and ok["why"] == ""
    dropped = Executor._judge({"accuracy": 0.89}, 0.91, 0.01)
    assert not dropped["blessed"] and "2.00 points below" in dropped["why"]


def test_a_file_that_is_not_a_signpipe_model_is_named(tmp_path):
    path = tmp_path / "x.tflite"
    path.write_bytes(b"not a flatbuffer")
    with pytest.raises(ConfigError, match=r"x\.tflite"):
        TFLiteClassifier(str(path))
