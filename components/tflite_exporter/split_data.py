"""Images of one split as the model sees them: raw tf.Examples through the transform graph."""

import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact

from signpipe.errors import DataRootError
from signpipe.models import preprocessing

# Encoded records, not decoded images: 50,000 JPEGs of ~30 KB are 1.5 GB at most.
_SAMPLE_BUFFER = 50_000
_SAMPLE_SEED = 0


def split_dataset(
    examples: Artifact,
    split: str,
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    sample: int | None = None,
) -> tf.data.Dataset:
    """Batches of (serialized tf.Example, image float32 [0, 255], label index) of a split.

    With `sample`, that many records drawn at random (the same on every run) from the whole
    split, so every class is represented; without, all records in file order.
    """
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
    files = sorted(fileio.glob(pattern))
    if not files:
        raise DataRootError(f"the Examples artifact {examples.uri} has no '{split}' split")
    spec = tft_output.raw_feature_spec()
    transform = tft_output.transform_features_layer()

    @tf.autograph.experimental.do_not_convert  # plain graph code: see models.model._dataset
    def _transform(serialized):
        transformed = transform(tf.io.parse_example(serialized, spec))
        return (
            serialized,
            transformed[preprocessing.IMAGE_FEATURE],
            transformed[preprocessing.LABEL_FEATURE],
        )

    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if sample is not None:
        records = records.shuffle(_SAMPLE_BUFFER, seed=_SAMPLE_SEED).take(sample)
    return records.batch(batch_size).map(_transform, num_parallel_calls=tf.data.AUTOTUNE)


def load_split(
    examples: Artifact, split: str, tft_output: tft.TFTransformOutput, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(serialized examples, images [N, H, W, 3] float32, label indices) of up to limit images.

    A limited load is a seeded random sample of the split (see split_dataset).
    """
    dataset = split_dataset(examples, split, tft_output, batch_size=32, sample=limit).unbatch()
    serialized, images, labels = [], [], []
    for record, image, label in dataset.as_numpy_iterator():
        serialized.append(record)
        images.append(image)
        labels.append(label)
    return np.array(serialized, dtype=object), np.stack(images), np.array(labels, dtype=np.int64)
