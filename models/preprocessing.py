"""Transform's preprocessing_fn: images to the backbone's input, labels to vocabulary indices."""

import tensorflow as tf
import tensorflow_transform as tft

IMAGE_KEY = "image_raw"
LABEL_KEY = "label"
IMAGE_FEATURE = "image"  # float32 [size, size, 3], pixels in [0, 255]
LABEL_FEATURE = "label_index"  # int64 index into the label vocabulary
LABEL_VOCABULARY = "label"  # vocabulary file name in the transform graph
DEFAULT_IMAGE_SIZE = 224
IMAGE_SIZE_KEY = "image_size"


def decode_and_resize(encoded: tf.Tensor, size: int) -> tf.Tensor:
    """Decode a batch of JPEG/PNG/BMP bytes to float32 [batch, size, size, 3] in [0, 255].

    Grey and RGBA images become 3-channel RGB. The aspect ratio is kept by padding with
    black rather than cropping: a crop can cut off the fingertips that tell signs apart,
    and the ExampleGen stores every image in a format decode_image reads.
    """

    def _one(image_bytes: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        image = tf.image.resize_with_pad(tf.cast(image, tf.float32), size, size, antialias=True)
        return tf.clip_by_value(image, 0.0, 255.0)

    return tf.map_fn(
        _one,
        tf.reshape(encoded, [-1]),
        fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
    )


def preprocessing_fn(inputs: dict, custom_config: dict | None = None) -> dict:
    """TFT preprocessing: the decoded, resized image and the integer label."""
    size = int((custom_config or {}).get(IMAGE_SIZE_KEY, DEFAULT_IMAGE_SIZE))
    outputs = {IMAGE_FEATURE: decode_and_resize(inputs[IMAGE_KEY], size)}
    labels = tf.reshape(inputs[LABEL_KEY], [-1])
    outputs[LABEL_FEATURE] = tft.compute_and_apply_vocabulary(
        labels, vocab_filename=LABEL_VOCABULARY
    )
    return outputs


def class_labels(tft_output: tft.TFTransformOutput) -> list[str]:
    """Label strings by class index: the order of the model's `probabilities`."""
    return [label.decode() for label in tft_output.vocabulary_by_name(LABEL_VOCABULARY)]
