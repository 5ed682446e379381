"""The Trainer streams its splits: nothing holds a whole split in memory, and training records
are reshuffled on every pass."""

import types

import numpy as np
import tensorflow as tf
import tf_keras
from tensorflow.core.framework import graph_pb2
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.tfxio import tf_example_record

from signpipe.models import features
from signpipe.models.model import (
    RECORD_SHUFFLE_BUFFER,
    _dataset,
    augmented,
    build_classifier,
    dataset_options,
    pooled_features,
)
from signpipe.pipeline.configs import TrainingConfig

IMAGE_SIZE = 96  # the smallest side Lite0 takes
# Ops that keep every element they have seen: dataset.cache().
HOLDS_A_SPLIT = {"CacheDataset", "CacheDatasetV2"}


def _write_records(path, count: int) -> schema_pb2.Schema:
    """`count` tf.Examples with an int64 `index` and `label`; their schema."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for index in range(count):
            example = tf.train.Example()
            example.features.feature["index"].int64_list.value.append(index)
            example.features.feature["label"].int64_list.value.append(index % 3)
            writer.write(example.SerializeToString())
    schema = schema_pb2.Schema()
    for name in ("index", "label"):
        feature = schema.feature.add(name=name, type=schema_pb2.INT)
        feature.shape.dim.add(size=1)
        feature.presence.min_fraction = 1
    return schema


def _read(path, schema, options: tf_example_record.dataset_options.TensorFlowDatasetOptions):
    return tf_example_record.TFExampleRecord(str(path), schema=schema).TensorFlowDataset(options)


def _ops(dataset: tf.data.Dataset) -> set[str]:
    """Every op of a dataset's graph, its functions' (map, generator) included."""
    graph = graph_pb2.GraphDef.FromString(dataset._as_serialized_graph().numpy())
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops |= {node.op for node in function.node_def}
    return ops


def test_training_records_are_dealt_anew_every_pass_and_eval_records_keep_their_order(tmp_path):
    count = 300
    schema = _write_records(tmp_path / "records", count)
    options = TrainingConfig(batch_size=32, seed=3)
    training = _read(tmp_path / "records", schema, dataset_options(options, training=True))
    first, second = ([batch["index"].numpy().ravel() for batch in training] for _ in range(2))
    for epoch in (first, second):
        np.testing.assert_array_equal(np.sort(np.concatenate(epoch)), np.arange(count))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    assert set(first[0]) != set(second[0])  # other records share a batch
    assert not np.array_equal(np.concatenate(first), np.arange(count))
    evaluation = _read(tmp_path / "records", schema, dataset_options(options, training=False))
    order = np.concatenate([batch["index"].numpy().ravel() for batch in evaluation])
    np.testing.assert_array_equal(order, np.arange(count))
    assert dataset_options(options, training=True).shuffle_buffer_size == RECORD_SHUFFLE_BUFFER


def test_no_dataset_the_trainer_trains_on_holds_a_whole_split_in_memory(tmp_path):
    """The guard: a Trainer that caches decoded images in memory again fails here."""
    schema = _write_records(tmp_path / "records", 24)

    def transform(raw):  # stands in for Transform's graph: an image and a label per record
        index = tf.cast(tf.reshape(raw["index"], [-1, 1, 1, 1]), tf.float32)
        return {
            features.IMAGE_FEATURE: tf.ones([1, IMAGE_SIZE, IMAGE_SIZE, 3]) * index,
            features.LABEL_FEATURE: tf.reshape(raw["label"], [-1]),
        }

    fn_args = types.SimpleNamespace(
        data_accessor=types.SimpleNamespace(
            tf_dataset_factory=lambda files, options, schema: _read(files[0], schema, options)
        )
    )
    tft_output = types.SimpleNamespace(
        raw_metadata=types.SimpleNamespace(schema=schema),
        transform_features_layer=lambda: transform,
    )
    options = TrainingConfig(
        inputs="image", backbone_weights="none", image_size=IMAGE_SIZE, batch_size=8
    )
    files = [str(tmp_path / "records")]
    images = _dataset(fn_args, tft_output, files, options, training=True)
    evaluate = _dataset(fn_args, tft_output, files, options, training=False)
    tf_keras.utils.set_random_seed(0)
    model = build_classifier(options, 3)
    pooled = pooled_features(model, images, str(tmp_path / "pooled"))
    for name, dataset in {
        "images": images,
        "evaluate": evaluate,
        "train": augmented(images, options),
        "pooled": pooled,
    }.items():
        assert not _ops(dataset) & HOLDS_A_SPLIT, name
    # The pooled features are read back from their folder (not sliced from arrays of the
    # whole split): every record once, labels kept.
    assert "LoadDataset" in _ops(pooled)
    labels = np.concatenate([label.numpy() for _, label in pooled])
    assert sorted(labels.tolist()) == sorted(index % 3 for index in range(24))
