"""The pushed-or-trained SavedModel's predictions on one split, image by image."""

import dataclasses

import numpy as np
import tensorflow as tf
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from signpipe.components.data_validation_report.executor import split_records
from signpipe.components.image_folder_example_gen.hand_analysis import NO_HAND, HandFacts
from signpipe.models import features

_BATCH = 32


@dataclasses.dataclass(frozen=True)
class SplitPredictions:
    """Per image: source file, encoded bytes, hand, true class and predicted probabilities."""

    classes: list[str]
    paths: list[str]
    encoded: list[bytes]
    hands: list[HandFacts]  # as ExampleGen found them; NO_HAND without hand analysis
    labels: np.ndarray  # [N] class indices; -1 for a label the model does not know
    probabilities: np.ndarray  # [N, classes]

    @property
    def predicted(self) -> np.ndarray:
        """The predicted class index of each image."""
        return self.probabilities.argmax(axis=1)

    def confusion(self) -> np.ndarray:
        """counts[true class, predicted class] over the images with a known label."""
        counts = np.zeros((len(self.classes), len(self.classes)), dtype=np.int64)
        known = self.labels >= 0
        np.add.at(counts, (self.labels[known], self.predicted[known]), 1)
        return counts


def predict_split(
    model_uri: str, examples: standard_artifacts.Examples, split: str, classes: list[str]
) -> SplitPredictions:
    """Run the model's serving_default signature over a split of an Examples artifact (the
    hand features ExampleGen wrote ride along in each tf.Example)."""
    records, paths, encoded, hands, labels = _rows(examples, split, classes)
    return SplitPredictions(
        classes=classes,
        paths=paths,
        encoded=encoded,
        hands=hands,
        labels=labels,
        probabilities=serving_probabilities(path_utils.serving_model_path(model_uri), records),
    )


def read_split(
    examples: standard_artifacts.Examples, split: str, classes: list[str], limit: int
) -> tuple[list[bytes], list[HandFacts], np.ndarray]:
    """Up to `limit` encoded images of a split, spread over it, their hands and class indices."""
    _, _, encoded, hands, labels = _rows(examples, split, classes)
    chosen = np.linspace(0, len(encoded) - 1, min(limit, len(encoded))).astype(int)
    return [encoded[i] for i in chosen], [hands[i] for i in chosen], labels[chosen]


def _rows(examples, split: str, classes: list[str]):
    """(serialized records, source paths, encoded images, hands, class indices) of a split."""
    index = {label: i for i, label in enumerate(classes)}
    records = list(split_records(examples, split))
    paths, encoded, hands, labels = [], [], [], []
    for record in records:
        feature = tf.train.Example.FromString(record).features.feature
        paths.append(feature[features.SOURCE_PATH_KEY].bytes_list.value[0].decode())
        encoded.append(feature[features.IMAGE_KEY].bytes_list.value[0])
        hands.append(hand_facts(feature))
        labels.append(index.get(feature[features.LABEL_KEY].bytes_list.value[0].decode(), -1))
    return records, paths, encoded, hands, np.array(labels, dtype=np.int64)


def hand_facts(feature) -> HandFacts:
    """The hand ExampleGen recorded in a tf.Example's features; NO_HAND when it recorded none."""
    if features.HAND_FOUND_KEY not in feature:
        return NO_HAND
    return HandFacts(
        found=bool(feature[features.HAND_FOUND_KEY].int64_list.value[0]),
        score=float(feature[features.HAND_SCORE_KEY].float_list.value[0]),
        handedness=feature[features.HANDEDNESS_KEY].bytes_list.value[0].decode(),
        landmarks=tuple(feature[features.HAND_LANDMARKS_KEY].float_list.value),
    )


def serving_probabilities(serving_model_dir: str, serialized: list[bytes]) -> np.ndarray:
    """The SavedModel's own predictions on serialized tf.Examples (serving_default)."""
    serve = tf.saved_model.load(serving_model_dir).signatures["serving_default"]
    batches = [
        serve(examples=tf.constant(serialized[start : start + _BATCH]))["probabilities"].numpy()
        for start in range(0, len(serialized), _BATCH)
    ]
    return np.concatenate(batches)
