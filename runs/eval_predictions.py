"""The trained model's predictions on one split, image by image."""

import dataclasses

import numpy as np
import tensorflow as tf
from tfx.types import standard_artifacts

from signpipe.components.data_validation_report.executor import split_records
from signpipe.components.image_folder_example_gen.hand_analysis import NO_HAND, HandFacts
from signpipe.inference.explain import ExplainedModel
from signpipe.models import features

_BATCH = 64


@dataclasses.dataclass(frozen=True)
class SplitPredictions:
    """Per image: source file, encoded bytes, hand, true class, the model's probabilities and
    its penultimate features."""

    classes: list[str]
    paths: list[str]
    encoded: list[bytes]
    hands: list[HandFacts]  # as ExampleGen found them; NO_HAND without hand analysis
    labels: np.ndarray  # [N] class indices; -1 for a label the model does not know
    probabilities: np.ndarray  # [N, classes]
    embeddings: np.ndarray  # [N, D]: what the softmax layer reads

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
    explained: ExplainedModel,
    examples: standard_artifacts.Examples,
    split: str,
    classes: list[str],
) -> SplitPredictions:
    """The trained model on a split of an Examples artifact, its inputs made as Transform
    makes them, from each image and the hand ExampleGen recorded in its tf.Example."""
    paths, encoded, hands, labels = _rows(examples, split, classes)
    embeddings, probabilities = embed(explained, encoded, hands)
    return SplitPredictions(
        classes=classes,
        paths=paths,
        encoded=encoded,
        hands=hands,
        labels=labels,
        probabilities=probabilities,
        embeddings=embeddings,
    )


def embed(
    explained: ExplainedModel, encoded: list[bytes], hands: list[HandFacts]
) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate features, probabilities) of images with their hands, batch by batch."""
    made = [
        explained.embeddings_and_probabilities(
            explained.inputs(encoded[start : start + _BATCH], hands[start : start + _BATCH])
        )
        for start in range(0, len(encoded), _BATCH)
    ]
    return np.concatenate([m[0] for m in made]), np.concatenate([m[1] for m in made])


def read_split(
    examples: standard_artifacts.Examples, split: str, classes: list[str], limit: int
) -> tuple[list[bytes], list[HandFacts], np.ndarray]:
    """Up to `limit` encoded images of a split, spread over it, their hands and class indices."""
    _, encoded, hands, labels = _rows(examples, split, classes)
    chosen = np.linspace(0, len(encoded) - 1, min(limit, len(encoded))).astype(int)
    return [encoded[i] for i in chosen], [hands[i] for i in chosen], labels[chosen]


def _rows(examples, split: str, classes: list[str]):
    """(source paths, encoded images, hands, class indices) of a split."""
    index = {label: i for i, label in enumerate(classes)}
    paths, encoded, hands, labels = [], [], [], []
    for record in split_records(examples, split):
        feature = tf.train.Example.FromString(record).features.feature
        paths.append(feature[features.SOURCE_PATH_KEY].bytes_list.value[0].decode())
        encoded.append(feature[features.IMAGE_KEY].bytes_list.value[0])
        hands.append(hand_facts(feature))
        labels.append(index.get(feature[features.LABEL_KEY].bytes_list.value[0].decode(), -1))
    return paths, encoded, hands, np.array(labels, dtype=np.int64)


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
