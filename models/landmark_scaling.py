"""Standardizing the landmark features inside the model, from the training split."""

import dataclasses

import numpy as np
import tensorflow as tf

from signpipe.models import features

LANDMARK_STANDARDIZER = "head_landmarks_standardize"


@dataclasses.dataclass(frozen=True)
class LandmarkScaling:
    """Per-feature scale and offset that standardize the landmark features: x * scale + offset."""

    scale: tuple[float, ...]
    offset: tuple[float, ...]

    @classmethod
    def identity(cls) -> "LandmarkScaling":
        """No change: for a model built before its training data is known."""
        size = features.LANDMARK_FEATURE_SIZE
        return cls((1.0,) * size, (0.0,) * size)

    @classmethod
    def of(cls, landmarks: np.ndarray, found: np.ndarray) -> "LandmarkScaling":
        """Mean 0 and variance 1 over the examples with a hand found; a constant feature is
        only centred. Identity when no example has a hand."""
        shapes = np.asarray(landmarks, np.float64)[np.reshape(found, [-1]) > 0.5]
        if not len(shapes):
            return cls.identity()
        mean, spread = shapes.mean(axis=0), shapes.std(axis=0)
        scale = np.where(spread > 1e-6, 1.0 / np.maximum(spread, 1e-6), 1.0)
        return cls(tuple(scale.tolist()), tuple((-mean * scale).tolist()))


def landmark_scaling(
    dataset: tf.data.Dataset, input_names: tuple[str, ...]
) -> LandmarkScaling | None:
    """The standardization of a split's landmark features, from its ({input: tensor}, label)
    batches; None for a model without them."""
    if features.LANDMARK_FEATURE not in input_names:
        return None
    landmarks, found = [], []
    for inputs, _ in dataset:  # this first pass also fills the dataset's cache
        landmarks.append(inputs[features.LANDMARK_FEATURE].numpy())
        found.append(inputs[features.HAND_FOUND_FEATURE].numpy())
    return LandmarkScaling.of(np.concatenate(landmarks), np.concatenate(found))
