"""Where a classifier looks: integrated gradients, Grad-CAM and penultimate-layer embeddings.

Works on the Trainer's Keras classifier (`model.load_classifier` of a pushed SavedModel):
images in [0, 255], probabilities out, and a `head_pool` layer pooling the last
convolutional block.
"""

import numpy as np
import tensorflow as tf
import tf_keras

POOL_LAYER = "head_pool"


def _feature_model(model: tf_keras.Model) -> tf_keras.Model:
    """image -> (last convolutional feature map, probabilities)."""
    pool = model.get_layer(POOL_LAYER)
    return tf_keras.Model(model.inputs, [pool.input, model.output])


def grad_cam(model: tf_keras.Model, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Grad-CAM of each image's class on the last convolutional block, [N, H, W] in [0, 1]."""
    features_and_probabilities = _feature_model(model)
    images = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        features, probabilities = features_and_probabilities(images, training=False)
        score = tf.gather(probabilities, classes, axis=1, batch_dims=1)
    gradients = tape.gradient(score, features)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cams = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[..., tf.newaxis]
    cams = tf.image.resize(cams, images.shape[1:3], method="bilinear")[..., 0]
    return _normalised(cams.numpy())


def integrated_gradients(
    model: tf_keras.Model, images: np.ndarray, classes: np.ndarray, steps: int = 32
) -> np.ndarray:
    """Integrated gradients from a black image; |attribution| summed over RGB, [N, H, W]."""
    images = tf.convert_to_tensor(images, tf.float32)
    classes = tf.convert_to_tensor(classes, tf.int64)

    # One graph for all steps: run eagerly, each step's backward pass costs seconds.
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *images.shape[1:]], tf.float32),
            tf.TensorSpec([None], tf.int64),
        ]
    )
    def path_gradient(path, classes):
        with tf.GradientTape() as tape:
            tape.watch(path)
            probabilities = model(path, training=False)
            score = tf.gather(probabilities, classes, axis=1, batch_dims=1)
        return tape.gradient(score, path)

    total = tf.zeros_like(images)
    # Midpoint Riemann sum of the gradients along the straight path from black to the image.
    for alpha in (np.arange(steps, dtype=np.float32) + 0.5) / steps:
        total += path_gradient(images * alpha, classes)
    attributions = images * total / steps
    return _normalised(tf.reduce_sum(tf.abs(attributions), axis=-1).numpy())


def embeddings(model: tf_keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """The pooled penultimate features the softmax layer reads, [N, D]."""
    return embeddings_and_probabilities(model, images, batch_size)[0]


def embeddings_and_probabilities(
    model: tf_keras.Model, images: np.ndarray, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features [N, D] and class probabilities [N, C] in one pass."""
    both = tf_keras.Model(model.inputs, [model.get_layer(POOL_LAYER).output, model.output])
    features, probabilities = [], []
    for start in range(0, len(images), batch_size):
        pooled, scores = both(images[start : start + batch_size], training=False)
        features.append(pooled.numpy())
        probabilities.append(scores.numpy())
    return np.concatenate(features), np.concatenate(probabilities)


def _normalised(maps: np.ndarray) -> np.ndarray:
    peaks = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0)
