"""One split as the model sees it: raw tf.Examples through the transform graph."""

import dataclasses
import functools
import os
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact

from signpipe.errors import ConfigError, DataRootError
from signpipe.models import features

_SAMPLE_SEED = 0
_BATCH_SIZE = 32


def _split_files(examples: Artifact, split: str) -> list[str]:
    """The split's record files; DataRootError when the artifact has no such split."""
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
    files = sorted(fileio.glob(pattern))
    if not files:
        raise DataRootError(f"the Examples artifact {examples.uri} has no '{split}' split")
    return files


def _check_inputs(tft_output: tft.TFTransformOutput, input_names: Sequence[str]) -> None:
    """ConfigError when the model takes a feature that the transform graph does not make."""
    missing = sorted(set(input_names) - set(tft_output.transformed_feature_spec()))
    if missing:
        raise ConfigError(
            f"the model takes {missing}, which the transform graph does not make: the data "
            "was ingested without hand analysis; set data.hand_analysis to true, or train "
            "with training.inputs image"
        )


def _sampled(records: tf.data.Dataset, sample: int) -> tf.data.Dataset:
    """`sample` records drawn at random (the same on every run) from the whole split, in
    file order: one pass counts the records, a second keeps the drawn ones, so memory holds
    their indices only, however large the split."""
    count = int(records.reduce(np.int64(0), lambda total, _: total + 1))
    rng = np.random.default_rng(_SAMPLE_SEED)
    chosen = tf.constant(np.sort(rng.choice(count, min(sample, count), replace=False)), tf.int64)
    return (
        records.enumerate()
        .filter(lambda index, _: tf.reduce_any(tf.equal(chosen, index)))
        .map(lambda _, record: record)
    )


def _transformed(
    files: Sequence[str],
    tft_output: tft.TFTransformOutput,
    input_names: Sequence[str],
    batch_size: int,
    sample: int | None = None,
) -> tf.data.Dataset:
    """({model input: tensor}, label index) batches of the records in `files`."""
    spec = tft_output.raw_feature_spec()
    transform = tft_output.transform_features_layer()
    names = list(input_names)

    @tf.autograph.experimental.do_not_convert  # plain graph code: see models.model._dataset
    def _transform(serialized):
        transformed = transform(tf.io.parse_example(serialized, spec))
        inputs = {name: transformed[name] for name in names}
        return inputs, transformed[features.LABEL_FEATURE]

    records = tf.data.TFRecordDataset(list(files), compression_type="GZIP")
    if sample is not None:
        records = _sampled(records, sample)
    return records.batch(batch_size).map(_transform, num_parallel_calls=tf.data.AUTOTUNE)


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
    files = _split_files(examples, split)
    _check_inputs(tft_output, input_names)
    return _transformed(files, tft_output, input_names, batch_size, sample)


@dataclasses.dataclass(frozen=True)
class SplitStream:
    """A split's transformed batches, read from its files anew on every pass, so that no pass
    holds the split in memory; plain strings, so a second process can take it."""

    files: tuple[str, ...]
    transform_graph: str  # the TransformGraph artifact's folder
    input_names: tuple[str, ...]

    def batches(self) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
        """({model input: array [B, ...]}, label indices [B]) batches, in file order."""
        yield from _stream_dataset(self).as_numpy_iterator()


@functools.lru_cache(maxsize=4)
def _stream_dataset(stream: SplitStream) -> tf.data.Dataset:
    """A SplitStream's dataset, made once per process: loading the transform graph and
    tracing it take seconds, a pass over a demo's test split less than one."""
    tft_output = tft.TFTransformOutput(stream.transform_graph)
    return _transformed(stream.files, tft_output, stream.input_names, _BATCH_SIZE)


def split_stream(
    examples: Artifact, split: str, transform_graph: str, input_names: Sequence[str]
) -> SplitStream:
    """The SplitStream of one split, checked: the split exists and Transform makes the inputs."""
    _check_inputs(tft.TFTransformOutput(transform_graph), input_names)
    return SplitStream(tuple(_split_files(examples, split)), transform_graph, tuple(input_names))


def load_split(
    examples: Artifact,
    split: str,
    tft_output: tft.TFTransformOutput,
    input_names: Sequence[str],
    limit: int,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({model input: array [N, ...]}, label indices) of a seeded random sample of up to
    `limit` examples of the split (see split_dataset)."""
    dataset = split_dataset(
        examples, split, tft_output, input_names, batch_size=_BATCH_SIZE, sample=limit
    )
    batches = list(dataset.as_numpy_iterator())
    if not batches:
        raise DataRootError(f"the '{split}' split of {examples.uri} holds no examples")
    inputs = {name: np.concatenate([x[name] for x, _ in batches]) for name in input_names}
    return inputs, np.concatenate([labels for _, labels in batches]).astype(np.int64)
