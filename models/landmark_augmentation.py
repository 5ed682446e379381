"""Training-time variation of the landmark features: the same hand, turned round or
held a little differently.

Signers show some letters palm to the camera and others back to it, pointing left or
right as they please: on spanish_alphabet_2signers one signer points H and S to the left,
the other to the right. A half turn about the image's vertical axis is that change. It
negates x and z of every landmark relative to the wrist and keeps which hand it is (a
mirror would not), and it leaves every distance between landmarks as it was. So a turned
hand's features are the features with those coordinates negated: nothing to recompute.
"""

import numpy as np
import tensorflow as tf

from signpipe.models import features
from signpipe.models.preprocessing import shape_features

# Per landmark feature: -1 where a half turn negates it (x and z), 1 elsewhere.
_HALF_TURN_SIGNS = np.concatenate(
    [
        np.tile(np.array([-1.0, 1.0, -1.0], np.float32), features.LANDMARK_COUNT),
        np.ones(features.LANDMARK_FEATURE_SIZE - features.LANDMARK_VALUES, np.float32),
    ]
)


def turn_hands(
    landmarks: tf.Tensor, share: float, generator: tf.random.Generator | None = None
) -> tf.Tensor:
    """[batch, LANDMARK_FEATURE_SIZE] features with each hand, at random with probability
    `share`, turned half round the vertical axis. Zeros (no hand) stay zeros.

    Inside a tf.data map, pass a generator: a plain random op draws the same values on
    every pass over the data set.
    """
    batch = tf.shape(landmarks)[0]
    draws = (generator or tf.random.get_global_generator()).uniform([batch, 1])
    turned = draws < share
    signs = tf.where(turned, tf.constant(_HALF_TURN_SIGNS)[tf.newaxis], 1.0)
    return landmarks * signs


def jitter_hands(
    landmarks: tf.Tensor, spread: float, generator: tf.random.Generator | None = None
) -> tf.Tensor:
    """[batch, LANDMARK_FEATURE_SIZE] features of each hand with every landmark but the
    wrist moved by normal noise of `spread` hand sizes per axis, distances recomputed.

    The same hand of another signer differs in this way: finger lengths, how far a finger
    bends. Zeros (no hand) stay zeros. See `turn_hands` for the generator.
    """
    batch = tf.shape(landmarks)[0]
    points = tf.reshape(landmarks[:, : features.LANDMARK_VALUES], [-1, features.LANDMARK_COUNT, 3])
    noise = (generator or tf.random.get_global_generator()).normal(
        [batch, features.LANDMARK_COUNT, 3], stddev=spread
    )
    not_wrist = tf.constant([0.0] + [1.0] * (features.LANDMARK_COUNT - 1))[:, tf.newaxis]
    present = tf.cast(
        tf.reduce_any(tf.not_equal(landmarks, 0.0), axis=1, keepdims=True), tf.float32
    )
    return shape_features(points + noise * not_wrist) * present
