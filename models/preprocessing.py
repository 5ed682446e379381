"""Transform's preprocessing_fn: the hand crop, hand-shape features and the label index.

Serving runs the same graph (the SavedModel's signatures call the transform layer), so a
crop or a landmark feature is computed one way only, here.
"""

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from signpipe.models import features

DEFAULT_IMAGE_SIZE = 224
IMAGE_SIZE_KEY = "image_size"


def hand_box(landmarks: tf.Tensor, found: tf.Tensor, height: tf.Tensor, width: tf.Tensor):
    """Square crop box (ymin, xmin, ymax, xmax in pixels, float32) of one image.

    Around the landmarks when a hand was found, HAND_BOX_SCALE times their larger extent;
    else the square that holds the whole frame, so that the crop is the padded frame.
    """
    height, width = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    points = tf.reshape(tf.cast(landmarks, tf.float32), [features.LANDMARK_COUNT, 3])
    xs, ys = points[:, 0] * width, points[:, 1] * height
    hand_center = tf.stack(
        [(tf.reduce_min(ys) + tf.reduce_max(ys)) / 2, (tf.reduce_min(xs) + tf.reduce_max(xs)) / 2]
    )
    extent = tf.maximum(
        tf.reduce_max(xs) - tf.reduce_min(xs), tf.reduce_max(ys) - tf.reduce_min(ys)
    )
    hand_side = tf.maximum(extent * features.HAND_BOX_SCALE, 16.0)
    has_hand = tf.reshape(tf.cast(found, tf.bool), [])
    center = tf.where(has_hand, hand_center, tf.stack([height / 2, width / 2]))
    side = tf.where(has_hand, hand_side, tf.maximum(height, width))
    return tf.concat([center - side / 2, center + side / 2], axis=0)


def crop_square(image: tf.Tensor, box: tf.Tensor, size: int) -> tf.Tensor:
    """The box of a float image [h, w, 3], black where it leaves the frame, resized to size."""
    shape = tf.shape(image)
    top, left = tf.cast(tf.round(box[0]), tf.int32), tf.cast(tf.round(box[1]), tf.int32)
    side = tf.maximum(tf.cast(tf.round(box[2] - box[0]), tf.int32), 1)
    y0, x0 = tf.clip_by_value(top, 0, shape[0] - 1), tf.clip_by_value(left, 0, shape[1] - 1)
    y1 = tf.clip_by_value(top + side, y0 + 1, shape[0])
    x1 = tf.clip_by_value(left + side, x0 + 1, shape[1])
    inside = image[y0:y1, x0:x1]
    padded = tf.pad(
        inside,
        [
            [y0 - top, tf.maximum(top + side - y1, 0)],
            [x0 - left, tf.maximum(left + side - x1, 0)],
            [0, 0],
        ],
    )
    return tf.image.resize(padded, [size, size], antialias=True)


def hand_crops(
    encoded: tf.Tensor, landmarks: tf.Tensor, found: tf.Tensor, size: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """Encoded images [batch] -> (float32 hand crops [batch, size, size, 3] in [0, 255],
    width / height of each image [batch]).

    Grey and RGBA images become RGB. An image with no hand keeps the whole frame, padded
    with black to a square: a stretch would change the hand's proportions.
    """

    def _one(args):
        image_bytes, points, has_hand = args
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        image = tf.cast(image, tf.float32)
        height, width = tf.shape(image)[0], tf.shape(image)[1]
        box = hand_box(points, has_hand, height, width)
        crop = tf.clip_by_value(crop_square(image, box, size), 0.0, 255.0)
        return crop, tf.cast(width, tf.float32) / tf.cast(height, tf.float32)

    return tf.map_fn(
        _one,
        (
            tf.reshape(encoded, [-1]),
            tf.reshape(tf.cast(landmarks, tf.float32), [-1, features.LANDMARK_VALUES]),
            tf.reshape(found, [-1]),
        ),
        fn_output_signature=(
            tf.TensorSpec([size, size, 3], tf.float32),
            tf.TensorSpec([], tf.float32),
        ),
    )


def decode_and_resize(encoded: tf.Tensor, size: int) -> tf.Tensor:
    """Encoded images [batch] -> whole frames, padded square and resized: no hand known."""
    batch = tf.shape(tf.reshape(encoded, [-1]))[0]
    crops, _ = hand_crops(
        encoded, tf.zeros([batch, features.LANDMARK_VALUES]), tf.zeros([batch], tf.int64), size
    )
    return crops


def landmark_features(
    landmarks: tf.Tensor, found: tf.Tensor, handedness: tf.Tensor, aspect: tf.Tensor
) -> tf.Tensor:
    """[batch, 63] landmarks -> [batch, LANDMARK_FEATURE_SIZE] features of the hand's shape.

    Coordinates relative to the wrist, so where the hand is does not matter; divided by
    the hand's largest wrist-to-landmark distance, so its size does not; x flipped for a
    left hand, so both hands look alike; tilt doubled (`double_tilt`). Then every distance
    between two landmarks, which also ignores how the hand is turned. `aspect` is width /
    height: landmarks are normalised per axis, and a hand's shape is only right in square
    units. Zeros where no hand was found.
    """
    points = tf.reshape(tf.cast(landmarks, tf.float32), [-1, features.LANDMARK_COUNT, 3])
    aspect = tf.reshape(tf.cast(aspect, tf.float32), [-1, 1])
    # MediaPipe's z is on the scale of x.
    points = points * tf.stack([aspect, tf.ones_like(aspect), aspect], axis=-1)
    relative = points - points[:, :1, :]
    scale = tf.reduce_max(tf.norm(relative[:, :, :2], axis=-1), axis=1, keepdims=True)
    relative = relative / tf.maximum(scale, 1e-6)[:, :, tf.newaxis]
    is_left = tf.equal(tf.reshape(handedness, [-1, 1]), features.LEFT)
    flip = tf.where(is_left, -1.0, 1.0)
    relative = relative * tf.stack([flip, tf.ones_like(flip), tf.ones_like(flip)], axis=-1)
    present = tf.reshape(tf.cast(found, tf.float32), [-1, 1])
    return shape_features(double_tilt(relative)) * present


def double_tilt(relative: tf.Tensor) -> tf.Tensor:
    """[batch, 21, 3] wrist-relative landmarks turned in the image plane about the wrist by
    the hand's own tilt, so a hand tilted by t from upright comes out tilted by 2t.

    Some letters are one handshape held at two tilts (spanish_alphabet_2signers: S is F's
    raised index held sideways), and the distances, unchanged by tilt, outnumber the
    coordinates 210 to 63. Doubling the tilt lets it count: the landmark model read that
    set's held-out signers 83.7%/80.4% against 81.0%/76.3% (S from 0% to about 90%), while
    removing the tilt or tripling it read less (docs/benchmarks.md). Only whole multiples
    keep a hand pointing down the same on either side of straight down.
    """
    knuckle = relative[:, features.MIDDLE_KNUCKLE, :2]  # wrist -> knuckle: the hand's axis
    length = tf.maximum(tf.norm(knuckle, axis=-1, keepdims=True), 1e-6)
    # Upright is -y (image y grows downwards): sin t = x / length, cos t = -y / length.
    sin, cos = knuckle[:, :1] / length, -knuckle[:, 1:] / length
    x, y, z = relative[..., 0], relative[..., 1], relative[..., 2]
    return tf.stack([cos * x - sin * y, sin * x + cos * y, z], axis=-1)


def shape_features(relative: tf.Tensor) -> tf.Tensor:
    """[batch, 21, 3] wrist-relative, size-normalised landmarks -> [batch,
    LANDMARK_FEATURE_SIZE]: the coordinates, then every distance between two landmarks."""
    first, second = np.triu_indices(features.LANDMARK_COUNT, 1)
    gaps = tf.gather(relative, first, axis=1) - tf.gather(relative, second, axis=1)
    distances = tf.sqrt(tf.reduce_sum(tf.square(gaps), axis=-1) + 1e-12)
    return tf.concat([tf.reshape(relative, [-1, features.LANDMARK_VALUES]), distances], axis=1)


def hand_inputs(raw: dict, size: int) -> dict:
    """The model's inputs from raw image bytes, landmarks, found flag and handedness."""
    encoded = tf.reshape(raw[features.IMAGE_KEY], [-1])
    found = tf.reshape(raw[features.HAND_FOUND_KEY], [-1])
    landmarks = tf.reshape(raw[features.HAND_LANDMARKS_KEY], [-1, features.LANDMARK_VALUES])
    crops, aspects = hand_crops(encoded, landmarks, found, size)
    return {
        features.IMAGE_FEATURE: crops,
        features.LANDMARK_FEATURE: landmark_features(
            landmarks, found, raw[features.HANDEDNESS_KEY], aspects
        ),
        features.HAND_FOUND_FEATURE: tf.reshape(tf.cast(found, tf.float32), [-1, 1]),
    }


def preprocessing_fn(inputs: dict, custom_config: dict | None = None) -> dict:
    """TFT preprocessing: hand crop, landmark features, found flag and the integer label."""
    size = int((custom_config or {}).get(IMAGE_SIZE_KEY, DEFAULT_IMAGE_SIZE))
    if features.HAND_FOUND_KEY in inputs:
        outputs = hand_inputs(inputs, size)
    else:  # examples ingested without hand analysis
        outputs = {features.IMAGE_FEATURE: decode_and_resize(inputs[features.IMAGE_KEY], size)}
    labels = tf.reshape(inputs[features.LABEL_KEY], [-1])
    outputs[features.LABEL_FEATURE] = tft.compute_and_apply_vocabulary(
        labels, vocab_filename=features.LABEL_VOCABULARY
    )
    return outputs


def class_labels(tft_output: tft.TFTransformOutput) -> list[str]:
    """Label strings by class index: the order of the model's `probabilities`."""
    return [label.decode() for label in tft_output.vocabulary_by_name(features.LABEL_VOCABULARY)]
