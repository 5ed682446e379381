"""One split as the model sees it: raw tf.Examples through the transform graph."""

import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact

from signpipe.errors import ConfigError, DataRootError
from signpipe.models import features

# Encoded records, not decoded images: 50,000 JPEGs of ~30 KB are 1.5 GB at most.
_SAMPLE_BUFFER = 50_000
_SAMPLE_SEED = 0


def split_dataset(
    examples: Artifact,
    split: str,
    tft_output: tft.TFTransformOutput,
    input_names: Sequence[str],
    batch_size: int,
    sample: int | None = None,
) -> tf.data.Dataset:
    """Batches of ({model input: tensor}, label index) of a split.

    The inputs are the transformed features named `input_names` (the model's input names:
    image float32 [0, 255], landmarks, hand_found). With `sample`, that many records drawn
    at random (the same on every run) from the whole split, so every class is represented;
    without, all records in file order.
    """
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
    files = sorted(fileio.glob(pattern))
    if not files:
        raise DataRootError(f"the Examples artifact {examples.uri} has no '{split}' split")
    missing = sorted(set(input_names) - set(tft_output.transformed_feature_spec()))
    if missing:
        raise ConfigError(
            f"the model takes {missing}, which the transform graph does not make: the data "
            "was ingested without hand analysis; set data.hand_analysis to true, or train "
            "with training.inputs image"
        )
    spec = tft_output.raw_feature_spec()
    transform = tft_output.transform_features_layer()
    names = list(input_names)

    @tf.autograph.experimental.do_not_convert  # plain graph code: see models.model._dataset
    def _transform(serialized):
        transformed = transform(tf.io.parse_example(serialized, spec))
        inputs = {name: transformed[name] for name in names}
        return inputs, transformed[features.LABEL_FEATURE]

    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if sample is not None:
        records = records.shuffle(_SAMPLE_BUFFER, seed=_SAMPLE_SEED).take(sample)
    return records.batch(batch_size).map(_transform, num_parallel_calls=tf.data.AUTOTUNE)


def load_split(
    examples: Artifact,
    split: str,
    tft_output: tft.TFTransformOutput,
    input_names: Sequence[str],
    limit: int | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({model input: array [N, ...]}, label indices) of up to limit examples.

    A limited load is a seeded random sample of the split (see split_dataset).
    """
    dataset = split_dataset(
        examples, split, tft_output, input_names, batch_size=32, sample=limit
    ).unbatch()
    inputs, labels = {name: [] for name in input_names}, []
    for values, label in dataset.as_numpy_iterator():
        for name in input_names:
            inputs[name].append(values[name])
        labels.append(label)
    if not labels:
        raise DataRootError(f"the '{split}' split of {examples.uri} holds no examples")
    stacked = {name: np.stack(values) for name, values in inputs.items()}
    return stacked, np.array(labels, dtype=np.int64)
