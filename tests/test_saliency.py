"""Saliency maps mean something: they find where the class signal is, and need the model.

The images carry their class (horizontal or vertical stripes) in a known corner on a dark,
noisy background, as hand photographs carry theirs on a dark backdrop.
"""

import numpy as np
import pytest
import tf_keras
from scipy.stats import spearmanr

from signpipe.models import saliency

SIZE = 64
REGION = (slice(2, 30), slice(2, 30))  # where the stripes are drawn
AREA = 28 * 28 / SIZE**2


def _images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 25, size=(count, SIZE, SIZE, 3)).astype(np.float32)
    labels = rng.integers(0, 2, size=count)
    for image, label in zip(images, labels, strict=True):
        stripes = np.zeros((20, 20), np.float32)
        if label:
            stripes[:, ::4] = 1
        else:
            stripes[::4, :] = 1
        top, left = rng.integers(2, 10, size=2)
        image[top : top + 20, left : left + 20] = 40 + 200 * stripes[..., None]
    return images, labels


def _classifier(seed: int) -> tf_keras.Model:
    """A small CNN with the Trainer's head contract (head_pool over the last conv block)."""
    tf_keras.utils.set_random_seed(seed)
    inputs = tf_keras.Input((SIZE, SIZE, 3))
    x = tf_keras.layers.Rescaling(1 / 255)(inputs)
    for filters in (16, 32):
        x = tf_keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = tf_keras.layers.MaxPooling2D()(x)
    x = tf_keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = tf_keras.layers.GlobalAveragePooling2D(name=saliency.POOL_LAYER)(x)
    outputs = tf_keras.layers.Dense(2, activation="softmax", name="head_softmax")(x)
    return tf_keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def trained():
    images, labels = _images(400, seed=0)
    model = _classifier(seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, epochs=6, batch_size=32, verbose=0)
    test_images, test_labels = _images(40, seed=1)
    assert model.evaluate(test_images, test_labels, verbose=0)[1] >= 0.95
    return model, test_images, test_labels


def _mass_in_region(maps: np.ndarray) -> np.ndarray:
    inside = np.zeros(maps.shape[1:], bool)
    inside[REGION] = True
    return (maps * inside).sum(axis=(1, 2)) / np.maximum(maps.sum(axis=(1, 2)), 1e-12)


def _rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    pairs = zip(first, second, strict=True)
    return float(np.median([spearmanr(a.ravel(), b.ravel())[0] for a, b in pairs]))


@pytest.mark.parametrize(
    ("method", "least_mass", "most_correlation"),
    [(saliency.grad_cam, 0.55, 0.4), (saliency.integrated_gradients, 0.55, 0.75)],
)
def test_maps_concentrate_on_the_signal_and_change_when_the_weights_are_random(
    trained, method, least_mass, most_correlation
):
    model, images, labels = trained
    maps = method(model, images, labels)
    assert maps.shape == (len(images), SIZE, SIZE) and maps.min() >= 0 and maps.max() <= 1
    mass = _mass_in_region(maps)
    assert np.median(mass) > least_mass > 2.5 * AREA, mass  # the corner is 19% of the image

    random_maps = method(_classifier(seed=7), images, labels)
    assert _rank_correlation(maps, random_maps) < most_correlation
    assert np.median(_mass_in_region(random_maps)) < np.median(mass) - 0.1


def test_embeddings_are_the_pooled_features_the_softmax_reads(trained):
    model, images, _ = trained
    features = saliency.embeddings(model, images, batch_size=7)
    assert features.shape == (len(images), 32)
    dense = model.get_layer("head_softmax")
    logits = features @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(
        np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True),
        model.predict(images, verbose=0),
        rtol=1e-4,
        atol=1e-5,
    )
