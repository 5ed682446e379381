"""The trained model's predictions on one split, image by image, in memory that does not
grow with the split: every image's answer, but pictures and embeddings of a bounded few."""

import dataclasses

import numpy as np
import tensorflow as tf
from tfx.types import standard_artifacts

from signpipe.components.data_validation_report.executor import split_records
from signpipe.components.image_folder_example_gen.hand_analysis import NO_HAND, HandFacts
from signpipe.inference.explain import ExplainedModel
from signpipe.models import features

_BATCH = 64
EMBEDDED = 1000  # images of a split whose embeddings are kept (the population view's), at most


@dataclasses.dataclass(frozen=True)
class SplitPredictions:
    """Per image: source file, true class and the model's probabilities; the penultimate
    features of up to EMBEDDED images spread over the split; the images themselves on
    request (`images`), read again from the split."""

    examples: standard_artifacts.Examples
    split: str
    classes: list[str]
    paths: list[str]
    labels: np.ndarray  # [N] class indices; -1 for a label the model does not know
    probabilities: np.ndarray  # [N, classes]
    embedded: np.ndarray  # [M] indices of the images whose embeddings are kept, M <= EMBEDDED
    embeddings: np.ndarray  # [M, D]: what the softmax layer reads

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

    def images(self, indices) -> dict[int, tuple[bytes, HandFacts]]:
        """{index: (encoded image, hand ExampleGen found)} of the given images, in one pass."""
        wanted = {int(i) for i in indices}
        return {
            index: (encoded, hand)
            for index, (_, encoded, hand, _) in enumerate(_rows(self.examples, self.split, {}))
            if index in wanted
        }


def predict_split(
    explained: ExplainedModel,
    examples: standard_artifacts.Examples,
    split: str,
    classes: list[str],
) -> SplitPredictions:
    """The trained model on a split of an Examples artifact, its inputs made as Transform
    makes them, from each image and the hand ExampleGen recorded in its tf.Example; read
    and answered batch by batch."""
    count = sum(1 for _ in split_records(examples, split))
    embedded = _spread(count, EMBEDDED)
    keep = np.zeros(count, bool)
    keep[embedded] = True
    paths, labels, embeddings = [], [], []
    probabilities = [np.zeros((0, len(classes)))]
    for start, batch in _batches(_rows(examples, split, classes)):
        made, answers = embed(explained, [row[1] for row in batch], [row[2] for row in batch])
        paths += [row[0] for row in batch]
        labels += [row[3] for row in batch]
        probabilities.append(answers)
        embeddings.append(made[keep[start : start + len(batch)]])
    return SplitPredictions(
        examples=examples,
        split=split,
        classes=classes,
        paths=paths,
        labels=np.array(labels, dtype=np.int64),
        probabilities=np.concatenate(probabilities)
        if probabilities
        else np.zeros((0, len(classes))),
        embedded=embedded,
        embeddings=np.concatenate(embeddings) if embeddings else np.zeros((0, 0)),
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
    chosen = set(_spread(sum(1 for _ in split_records(examples, split)), limit).tolist())
    rows = [row for i, row in enumerate(_rows(examples, split, classes)) if i in chosen]
    labels = np.array([row[3] for row in rows], dtype=np.int64)
    return [row[1] for row in rows], [row[2] for row in rows], labels


def _spread(count: int, limit: int) -> np.ndarray:
    """Up to `limit` indices of `count`, evenly spread."""
    return np.unique(np.linspace(0, count - 1, min(limit, count)).astype(int))


def _batches(rows):
    """(index of the first row, rows) in batches of _BATCH."""
    batch, start = [], 0
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            yield start, batch
            start, batch = start + len(batch), []
    if batch:
        yield start, batch


def _rows(examples, split: str, classes: list[str]):
    """(source path, encoded image, hand, class index) of each example of a split, in order;
    class index -1 for a label not in `classes`."""
    index = {label: i for i, label in enumerate(classes)}
    for record in split_records(examples, split):
        feature = tf.train.Example.FromString(record).features.feature
        yield (
            feature[features.SOURCE_PATH_KEY].bytes_list.value[0].decode(),
            feature[features.IMAGE_KEY].bytes_list.value[0],
            hand_facts(feature),
            index.get(feature[features.LABEL_KEY].bytes_list.value[0].decode(), -1),
        )


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
