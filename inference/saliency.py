"""Where a classifier looks: integrated gradients, Grad-CAM and penultimate-layer embeddings.

Works on the Trainer's Keras classifier (`model.load_classifier` of a pushed SavedModel):
inputs by name (the image in [0, 255], and the landmark features and found flag of a model
that reads the hand), probabilities out, a softmax layer per branch (`models/head.py`), and
a `head_pool` layer pooling the last convolutional block of the image branch. Image saliency
is taken on the image branch with every other input fed as it is; a landmarks-only model
has none.
"""

from collections.abc import Mapping

import numpy as np
import tensorflow as tf
import tf_keras

from signpipe.models.head import IMAGE_SOFTMAX, LANDMARK_SOFTMAX, POOL_LAYER

# An image array for a model with one input, or arrays by input name (extra keys ignored).
Inputs = np.ndarray | Mapping[str, np.ndarray]


class NoImageBranch(ValueError):
    """The model reads no image (hand landmarks only): there is no image to explain."""


def image_input(model: tf_keras.Model) -> str | None:
    """The name of the model's image input ([N, H, W, C]); None for a landmarks-only model."""
    for name, tensor in zip(model.input_names, model.inputs, strict=True):
        if len(tensor.shape) == 4:
            return name
    return None


def model_inputs(model: tf_keras.Model, inputs: Inputs) -> dict[str, tf.Tensor]:
    """The model's inputs by name, float32."""
    if not isinstance(inputs, Mapping):
        if len(model.inputs) != 1:
            raise ValueError(f"the model takes inputs {model.input_names}: pass them by name")
        inputs = {model.input_names[0]: inputs}
    missing = [name for name in model.input_names if name not in inputs]
    if missing:
        raise ValueError(f"the model takes inputs {model.input_names}; missing {missing}")
    return {name: tf.convert_to_tensor(inputs[name], tf.float32) for name in model.input_names}


def _image_branch(model: tf_keras.Model) -> str:
    name = image_input(model)
    if name is None:
        raise NoImageBranch(
            f"model {model.name} reads only the hand landmarks ({model.input_names}): it has "
            "no image branch, so there is no image saliency map"
        )
    return name


def grad_cam(model: tf_keras.Model, inputs: Inputs, classes: np.ndarray) -> np.ndarray:
    """Grad-CAM of each image's class on the image branch's last convolutional block,
    [N, H, W] in [0, 1]. Raises NoImageBranch for a landmarks-only model."""
    given = model_inputs(model, inputs)
    images = given[_image_branch(model)]
    features_and_probabilities = tf_keras.Model(
        model.inputs, [model.get_layer(POOL_LAYER).input, model.output]
    )
    with tf.GradientTape() as tape:
        features, probabilities = features_and_probabilities(given, training=False)
        score = tf.gather(probabilities, classes, axis=1, batch_dims=1)
    gradients = tape.gradient(score, features)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cams = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[..., tf.newaxis]
    cams = tf.image.resize(cams, images.shape[1:3], method="bilinear")[..., 0]
    return _normalised(cams.numpy())


def integrated_gradients(
    model: tf_keras.Model, inputs: Inputs, classes: np.ndarray, steps: int = 32
) -> np.ndarray:
    """Integrated gradients of the image from a black one, other inputs held as given;
    |attribution| summed over RGB, [N, H, W]. Raises NoImageBranch for a landmarks-only model."""
    name = _image_branch(model)
    given = model_inputs(model, inputs)
    images = given.pop(name)
    classes = tf.convert_to_tensor(classes, tf.int64)

    # One graph for all steps: run eagerly, each step's backward pass costs seconds.
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *images.shape[1:]], tf.float32),
            tf.TensorSpec([None], tf.int64),
            {
                key: tf.TensorSpec([None, *value.shape[1:]], tf.float32)
                for key, value in given.items()
            },
        ]
    )
    def path_gradient(path, classes, others):
        with tf.GradientTape() as tape:
            tape.watch(path)
            probabilities = model({**others, name: path}, training=False)
            score = tf.gather(probabilities, classes, axis=1, batch_dims=1)
        return tape.gradient(score, path)

    total = tf.zeros_like(images)
    # Midpoint Riemann sum of the gradients along the straight path from black to the image.
    for alpha in (np.arange(steps, dtype=np.float32) + 0.5) / steps:
        total += path_gradient(images * alpha, classes, given)
    attributions = images * total / steps
    return _normalised(tf.reduce_sum(tf.abs(attributions), axis=-1).numpy())


def embeddings(model: tf_keras.Model, inputs: Inputs, batch_size: int = 32) -> np.ndarray:
    """The penultimate features the softmax layer reads, [N, D]."""
    return embeddings_and_probabilities(model, inputs, batch_size)[0]


def embeddings_and_probabilities(
    model: tf_keras.Model, inputs: Inputs, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features [N, D] (pooled image features, with the landmark embedding of a
    model that reads the hand) and class probabilities [N, C] in one pass."""
    return Embedder(model)(inputs, batch_size)


class Embedder:
    """`embeddings_and_probabilities` of one model, traced once for every later call."""

    def __init__(self, model: tf_keras.Model):
        self._model = model
        names = {layer.name for layer in model.layers}
        penultimate = [
            model.get_layer(name).input
            for name in (IMAGE_SOFTMAX, LANDMARK_SOFTMAX)
            if name in names
        ]
        if len(penultimate) > 1:
            penultimate = [tf_keras.layers.Concatenate()(penultimate)]
        both = tf_keras.Model(model.inputs, [penultimate[0], model.output])
        # As a graph: called eagerly, every layer runs op by op (Lite0, 32 images: 1.5 s a
        # batch); one tf.function, so that the model is traced once, not once a call.
        self._run = tf.function(lambda batch: both(batch, training=False), reduce_retracing=True)

    def __call__(self, inputs: Inputs, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(penultimate features [N, D], probabilities [N, C]) of `inputs`."""
        given = model_inputs(self._model, inputs)
        count = int(next(iter(given.values())).shape[0])
        features, probabilities = [], []
        for start in range(0, count, batch_size):
            batch = {key: value[start : start + batch_size] for key, value in given.items()}
            penultimate, scores = self._run(batch)
            features.append(penultimate.numpy())
            probabilities.append(scores.numpy())
        return np.concatenate(features), np.concatenate(probabilities)


def _normalised(maps: np.ndarray) -> np.ndarray:
    peaks = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0)
