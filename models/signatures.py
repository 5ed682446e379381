"""The SavedModel's serving signatures: tf.Examples, image bytes alone, image bytes with
MediaPipe's hand landmarks, and the transform graph for TFMA."""

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras

from signpipe.models import features

# What serving_hands takes: MediaPipe's findings as ExampleGen records them, per image.
HANDS_INPUT_SIGNATURE = (
    tf.TensorSpec([None], tf.string, name=features.IMAGE_BYTES_INPUT),
    tf.TensorSpec([None], tf.int64, name=features.HAND_FOUND_KEY),
    tf.TensorSpec([None, features.LANDMARK_VALUES], tf.float32, name=features.HAND_LANDMARKS_KEY),
    tf.TensorSpec([None], tf.string, name=features.HANDEDNESS_KEY),
)


def serving_signatures(model: tf_keras.Model, tft_output: tft.TFTransformOutput) -> dict:
    """serving_default (tf.Examples), serving_images (bytes), serving_hands (bytes and
    MediaPipe's hand landmarks, when the data had them) and transform_features.

    The serving contract is documented in docs/serving.md: the input and output names
    below are what TF Serving consumers call, so renaming one breaks them.
    """
    model.tft_layer = tft_output.transform_features_layer()
    labels = tf.constant(tft_output.vocabulary_by_name(features.LABEL_VOCABULARY))
    raw_spec = tft_output.raw_feature_spec()
    with_hands = features.HAND_FOUND_KEY in raw_spec
    hand_keys = (
        (features.HAND_FOUND_KEY, features.HAND_LANDMARKS_KEY, features.HANDEDNESS_KEY)
        if with_hands
        else ()
    )
    # Examples (and requests) without hand analysis count as "no hand found".
    absent = {
        features.HAND_FOUND_KEY: 0,
        features.HAND_LANDMARKS_KEY: 0.0,
        features.HANDEDNESS_KEY: features.NO_HAND,
    }
    example_spec = {features.IMAGE_KEY: raw_spec[features.IMAGE_KEY]}
    for key in hand_keys:
        spec = raw_spec[key]
        size = int(np.prod(spec.shape)) if spec.shape else 1
        example_spec[key] = tf.io.FixedLenFeature(
            spec.shape, spec.dtype, default_value=[absent[key]] * size
        )

    def _raw(image_bytes, found, landmarks, handedness):
        """Raw features shaped as the transform graph expects them."""
        values = {
            features.IMAGE_KEY: image_bytes,
            features.HAND_FOUND_KEY: found,
            features.HAND_LANDMARKS_KEY: landmarks,
            features.HANDEDNESS_KEY: handedness,
        }
        return {
            key: tf.reshape(values[key], [-1, *example_spec[key].shape]) for key in example_spec
        }

    def _predict(raw_features):
        transformed = model.tft_layer(raw_features)
        inputs = {name: transformed[name] for name in model.input_names}
        probabilities = model(inputs, training=False)
        index = tf.argmax(probabilities, axis=-1)
        batch = tf.shape(probabilities)[0]
        # In SERVING_OUTPUTS order. One row per image: TF Serving's REST row format needs a
        # batch dimension on every output; the class list names the columns of probabilities.
        values = (
            tf.gather(labels, index),
            index,
            tf.reduce_max(probabilities, axis=-1),
            probabilities,
            tf.tile(labels[tf.newaxis, :], [batch, 1]),
        )
        return dict(zip(features.SERVING_OUTPUTS, values, strict=True))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):
        return _predict(tf.io.parse_example(serialized, example_spec))

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.IMAGE_BYTES_INPUT)]
    )
    def serve_images(image_bytes):
        batch = tf.shape(image_bytes)[0]
        return _predict(
            _raw(
                image_bytes,
                tf.zeros([batch], tf.int64),
                tf.zeros([batch, features.LANDMARK_VALUES]),
                tf.fill([batch], features.NO_HAND),
            )
        )

    @tf.function(input_signature=HANDS_INPUT_SIGNATURE)
    def serve_hands(image_bytes, hand_found, hand_landmarks, handedness):
        return _predict(_raw(image_bytes, hand_found, hand_landmarks, handedness))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

    signatures = {
        features.EXAMPLES_SIGNATURE: serve_examples,
        features.IMAGE_SIGNATURE: serve_images,
        features.TRANSFORM_SIGNATURE: transform_features,
    }
    if with_hands:
        signatures[features.HANDS_SIGNATURE] = serve_hands
    return signatures
