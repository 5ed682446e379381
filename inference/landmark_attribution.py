"""Which joints of the hand moved the answer: integrated gradients on MediaPipe's 21 landmarks.

The landmark branch reads hand-shape features that Transform's graph derives from the raw
landmarks (`models/preprocessing.landmark_features`). That derivation is TensorFlow, so
the gradients run through it: each joint's x, y and z as MediaPipe gave them get their
share of the answer, not the 273 features, whose distances each belong to two joints.

The baseline is the training mean hand: the mean of the training hands' normalised
coordinates, which the model carries in its standardization layer (mean = -offset /
scale), posed at this hand's wrist, size and side. The features ignore where a hand is
and how large it is, so a baseline elsewhere or of another size would spread the answer
over every joint by how far the two hands lie apart, not by how their shapes differ.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from signpipe.components.image_folder_example_gen.hand_analysis import HandFacts
from signpipe.inference.branches import Branches
from signpipe.models import features
from signpipe.models.landmark_scaling import LANDMARK_STANDARDIZER
from signpipe.models.preprocessing import landmark_features

# The landmark branch is a small MLP on the pooled features held fixed: many steps cost
# milliseconds, and keep the Riemann sum's error in completeness well under 1%.
STEPS = 128
TOP_JOINTS = 3
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_FINGER_JOINTS = ("MCP", "PIP", "DIP", "tip")  # MediaPipe's order, from the palm out
_THUMB_JOINTS = ("CMC", "MCP", "IP", "tip")
JOINT_NAMES = (
    "wrist",
    *(f"thumb {joint}" for joint in _THUMB_JOINTS),
    *(f"{finger} {joint}" for finger in FINGERS[1:] for joint in _FINGER_JOINTS),
)


@dataclasses.dataclass(frozen=True)
class HandAttribution:
    """Integrated gradients of one image's answer on its raw landmarks."""

    points: np.ndarray  # [21, 3] per coordinate
    score: float  # the answer's probability at the hand
    baseline_score: float  # ... and at the baseline hand

    @property
    def joints(self) -> np.ndarray:
        """[21]: each joint's attribution, its x, y and z together."""
        return self.points.sum(axis=1)

    def top_joints(self) -> list[str]:
        """The TOP_JOINTS joints that weighed most, signed: `index tip +0.214`."""
        joints = self.joints
        order = np.argsort(-np.abs(joints))[:TOP_JOINTS]
        return [f"{JOINT_NAMES[i]} {joints[i]:+.3f}" for i in order]


def mean_hand(branches: Branches) -> np.ndarray | None:
    """The training hands' mean normalised coordinates [21, 3], from the standardization
    layer; None when the model has none or never saw a hand (no hand axis to pose)."""
    names = {layer.name for layer in branches.model.layers}
    if LANDMARK_STANDARDIZER not in names:
        return None
    layer = branches.model.get_layer(LANDMARK_STANDARDIZER)
    scale = np.asarray(layer.scale, np.float64)[: features.LANDMARK_VALUES]
    offset = np.asarray(layer.offset, np.float64)[: features.LANDMARK_VALUES]
    mean = (-offset / scale).reshape(features.LANDMARK_COUNT, 3)
    if np.linalg.norm(mean[features.MIDDLE_KNUCKLE, :2]) < 1e-3:
        return None
    return mean


def posed_baseline(mean: np.ndarray, hand: HandFacts, aspect: float) -> np.ndarray:
    """Raw landmarks [21, 3] of the mean hand at `hand`'s wrist, size and side, such that
    `landmark_features` gives the mean hand's coordinates: the derivation run backwards."""
    units = np.array([aspect, 1.0, aspect])  # to square units, as landmark_features does
    points = np.reshape(hand.landmarks, (features.LANDMARK_COUNT, 3)) * units
    size = np.linalg.norm(points[:, :2] - points[0, :2], axis=1).max()
    # The features double the hand's tilt: a mean hand tilted t comes from one tilted t/2.
    knuckle = mean[features.MIDDLE_KNUCKLE, :2]
    half = -np.arctan2(knuckle[0], -knuckle[1]) / 2
    cos, sin = np.cos(half), np.sin(half)
    shape = mean - mean[0]
    x, y = shape[:, 0].copy(), shape[:, 1].copy()
    shape[:, 0], shape[:, 1] = cos * x - sin * y, sin * x + cos * y
    shape /= np.linalg.norm(shape[:, :2], axis=1).max()
    if hand.handedness == features.LEFT:
        shape[:, 0] = -shape[:, 0]
    return (points[0] + shape * size) / units


def attribute(
    branches: Branches,
    head_inputs: dict[str, tf.Tensor],
    hands: list[HandFacts],
    aspects: np.ndarray,
    classes: np.ndarray,
) -> list[HandAttribution | None]:
    """Integrated gradients of each image's class probability on its raw landmarks, from
    the posed mean hand, the image's pooled features held; None for an image without a
    hand, or a model without a landmark branch or mean hand."""
    mean = mean_hand(branches) if branches.reads_landmarks else None
    rows = [i for i, hand in enumerate(hands) if hand.found and mean is not None]
    result: list[HandAttribution | None] = [None] * len(hands)
    if not rows:
        return result
    held = {
        name: tf.gather(value, rows)
        for name, value in head_inputs.items()
        if name != features.LANDMARK_FEATURE
    }
    handedness = tf.constant([hands[i].handedness.encode() for i in rows])
    aspect = tf.constant(aspects[rows], tf.float32)
    target = tf.constant(classes[rows], tf.int64)
    raw = np.array([hands[i].landmarks for i in rows], np.float32)
    baseline = np.stack([posed_baseline(mean, hands[i], aspects[i]).ravel() for i in rows]).astype(
        np.float32
    )

    @tf.function
    def score(points):
        shapes = landmark_features(points, tf.ones_like(aspect), handedness, aspect)
        probabilities = branches.head({**held, features.LANDMARK_FEATURE: shapes}, training=False)
        return tf.gather(probabilities, target, axis=1, batch_dims=1)

    @tf.function
    def gradient(points):
        with tf.GradientTape() as tape:
            tape.watch(points)
            value = score(points)
        return tape.gradient(value, points)

    difference = raw - baseline
    total = np.zeros_like(raw)
    # Midpoint Riemann sum of the gradients along the straight path from the baseline.
    for alpha in (np.arange(STEPS, dtype=np.float32) + 0.5) / STEPS:
        total += gradient(tf.constant(baseline + alpha * difference)).numpy()
    points = (difference * total / STEPS).reshape(len(rows), features.LANDMARK_COUNT, 3)
    at_hand, at_baseline = score(tf.constant(raw)).numpy(), score(tf.constant(baseline)).numpy()
    for row, index in enumerate(rows):
        result[index] = HandAttribution(points[row], float(at_hand[row]), float(at_baseline[row]))
    return result
