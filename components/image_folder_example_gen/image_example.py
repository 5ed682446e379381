"""The tf.Example ExampleGen writes for one image."""

import numpy as np
import tensorflow as tf

from signpipe.components.image_folder_example_gen.read_images import Image
from signpipe.models import features, preprocessing

# Traced once: called eagerly, its ~20 small ops cost 1.5 ms an image, 0.5 ms as one graph
# (asl_massey's 2,515 images: 3.7 s -> 1.3 s, in the one thread after the parallel reads).
_hand_box = tf.function(
    preprocessing.hand_box,
    input_signature=[
        tf.TensorSpec([features.LANDMARK_VALUES], tf.float32),
        *[tf.TensorSpec([], tf.int64)] * 3,
    ],
)


def _bytes(*values: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _float(*values: float) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def image_example(image: Image, with_group: bool, with_hand: bool) -> tf.train.Example:
    """Build the tf.Example for one image, with its group and hand features when asked."""
    facts = image.facts
    feature = {
        features.IMAGE_KEY: _bytes(facts.encoded),
        features.LABEL_KEY: _bytes(image.label.encode()),
        features.SOURCE_PATH_KEY: _bytes(image.path.encode()),
        features.CONTENT_HASH_KEY: _bytes(facts.content_hash.encode()),
        features.IMAGE_FORMAT_KEY: _bytes(facts.image_format.encode()),
        features.HEIGHT_KEY: _int(facts.height),
        features.WIDTH_KEY: _int(facts.width),
        features.CHANNELS_KEY: _int(facts.channels),
        features.FILE_SIZE_KEY: _int(facts.file_size),
        features.BRIGHTNESS_KEY: _float(facts.brightness),
        features.SHARPNESS_KEY: _float(facts.sharpness),
    }
    if with_group:
        feature[features.GROUP_KEY] = _bytes(image.group.encode())
    if with_hand:
        hand = facts.hand
        box = _hand_box(hand.landmarks, int(hand.found), facts.height, facts.width)
        scale = np.array([facts.height, facts.width] * 2, dtype=np.float32)
        feature[features.HAND_FOUND_KEY] = _int(int(hand.found))
        feature[features.HAND_SCORE_KEY] = _float(hand.score)
        feature[features.HANDEDNESS_KEY] = _bytes(hand.handedness.encode())
        feature[features.HAND_LANDMARKS_KEY] = _float(*hand.landmarks)
        feature[features.HAND_BOX_KEY] = _float(*(box.numpy() / scale).tolist())
    return tf.train.Example(features=tf.train.Features(feature=feature))
