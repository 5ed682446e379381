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
        moments = LandmarkMoments()
        moments.add(landmarks, found)
        return moments.scaling()


class LandmarkMoments:
    """Running count, sum and sum of squares of the landmark features of found hands: the
    scaling of a split read batch by batch, in memory that does not grow with it."""

    def __init__(self):
        self._count = 0
        self._sum = np.zeros(features.LANDMARK_FEATURE_SIZE, np.float64)
        self._squares = np.zeros(features.LANDMARK_FEATURE_SIZE, np.float64)

    def add(self, landmarks: np.ndarray, found: np.ndarray) -> None:
        """Count one batch's hands (rows with found > 0.5)."""
        shapes = np.asarray(landmarks, np.float64)[np.reshape(found, [-1]) > 0.5]
        self._count += len(shapes)
        self._sum += shapes.sum(axis=0)
        self._squares += np.square(shapes).sum(axis=0)

    def scaling(self) -> LandmarkScaling:
        """The LandmarkScaling of every hand added; identity when there was none."""
        if not self._count:
            return LandmarkScaling.identity()
        mean = self._sum / self._count
        spread = np.sqrt(np.maximum(self._squares / self._count - np.square(mean), 0.0))
        scale = np.where(spread > 1e-6, 1.0 / np.maximum(spread, 1e-6), 1.0)
        return LandmarkScaling(tuple(scale.tolist()), tuple((-mean * scale).tolist()))


def landmark_scaling(
    dataset: tf.data.Dataset, input_names: tuple[str, ...]
) -> LandmarkScaling | None:
    """The standardization of a split's landmark features, from its ({input: tensor}, label)
    batches; None for a model without them."""
    if features.LANDMARK_FEATURE not in input_names:
        return None
    moments = LandmarkMoments()
    for inputs, _ in dataset:
        moments.add(
            inputs[features.LANDMARK_FEATURE].numpy(), inputs[features.HAND_FOUND_FEATURE].numpy()
        )
    return moments.scaling()
