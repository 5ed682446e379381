"""Classify image files with a signpipe model: a TFLite file, a SavedModel, or TF Serving.

Every image gets its own answer or its own error: an unreadable or corrupt file is named
and the other images are still classified.
"""

import dataclasses
import json
import os
from collections.abc import Callable, Sequence

from signpipe.errors import ConfigError
from signpipe.serving_client import InputRejected, ServingClient, ServingOptions

LABELS_FILE = "labels.txt"

# Encoded images in; (label, class index, confidence) per image out; InputRejected when any
# of them cannot be decoded.
BatchPredictor = Callable[[list[bytes]], list[tuple[str, int, float]]]


@dataclasses.dataclass
class Prediction:
    """What a model said about one image, or why it could not say."""

    image: str
    label: str | None = None
    class_index: int | None = None
    confidence: float | None = None
    error: str | None = None

    def line(self) -> str:
        """`path: label (97.1%)` or `path: error: ...`."""
        if self.error:
            return f"{self.image}: error: {self.error}"
        return f"{self.image}: {self.label} ({self.confidence:.1%})"


def classify_files(
    paths: Sequence[str], predict_batch: BatchPredictor, batch_size: int = 32
) -> list[Prediction]:
    """Read, check and classify image files in batches; one Prediction per path, in order."""
    from signpipe.components.image_folder_example_gen.image_facts import (
        BadImageError,
        decodable_bytes,
    )

    results: list[Prediction | None] = [None] * len(paths)
    pending: list[tuple[int, bytes]] = []
    for index, path in enumerate(paths):
        try:
            with open(path, "rb") as handle:
                pending.append((index, decodable_bytes(handle.read())))
        except OSError as err:
            results[index] = Prediction(path, error=f"cannot read the file: {err.strerror}")
        except BadImageError as err:
            results[index] = Prediction(path, error=str(err))
    size = max(1, batch_size)
    for start in range(0, len(pending), size):
        for index, answer in classify_encoded(pending[start : start + size], predict_batch):
            results[index] = dataclasses.replace(answer, image=paths[index])
    return [result for result in results if result is not None]


def classify_encoded(
    batch: list[tuple[int, bytes]], predict_batch: BatchPredictor
) -> list[tuple[int, Prediction]]:
    """Classify (key, encoded image) pairs; a rejected batch is split until the bad images are
    alone, so each of them gets the model's error and every other image its answer."""
    try:
        answers = predict_batch([image for _, image in batch])
    except InputRejected as err:
        if len(batch) == 1:
            return [(batch[0][0], Prediction("", error=f"the model cannot decode it: {err}"))]
        middle = len(batch) // 2
        return classify_encoded(batch[:middle], predict_batch) + classify_encoded(
            batch[middle:], predict_batch
        )
    return [
        (key, Prediction("", label, class_index, confidence))
        for (key, _), (label, class_index, confidence) in zip(batch, answers, strict=True)
    ]


def _labels(model_path: str, labels_path: str | None) -> list[str]:
    path = labels_path or os.path.join(os.path.dirname(os.path.abspath(model_path)), LABELS_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.rstrip("\n") for line in handle if line.strip()]
    except OSError as err:
        raise ConfigError(
            f"cannot read the labels {path} ({err.strerror}): keep {LABELS_FILE} beside the "
            "model as the exporter wrote it, or pass --labels FILE"
        ) from None


def predict_tflite(
    model_path: str, images: Sequence[str], labels_path: str | None = None, threads: int = 1
) -> list[Prediction]:
    """Run a signpipe TFLite file on image files, decoded and resized as in training."""
    import numpy as np
    import tensorflow as tf

    from signpipe.components.tflite_exporter.tflite_classifier import TFLiteClassifier
    from signpipe.models.preprocessing import decode_and_resize

    if not os.path.isfile(model_path):
        raise ConfigError(f"TFLite model {model_path} does not exist")
    classifier = TFLiteClassifier(model_path, threads=threads)
    labels = _labels(model_path, labels_path)

    def predict_batch(encoded: list[bytes]) -> list[tuple[str, int, float]]:
        try:
            pixels = decode_and_resize(tf.constant(encoded), classifier.image_size).numpy()
        except tf.errors.InvalidArgumentError as err:
            raise InputRejected(err.message) from None
        answers = []
        for one in pixels:  # the TFLite signature takes one image at a time
            probabilities = classifier.probabilities(one[np.newaxis])[0]
            index = int(np.argmax(probabilities))
            if index >= len(labels):
                raise ConfigError(
                    f"the model has more classes than the {len(labels)} labels given: use the "
                    f"{LABELS_FILE} written with this model"
                )
            answers.append((labels[index], index, float(probabilities[index])))
        return answers

    return classify_files(images, predict_batch)


def saved_model_folder(model_dir: str) -> str:
    """The SavedModel in `model_dir`, or in its newest numbered version folder."""
    from signpipe.components.serving_pusher.model_directory import versions

    if os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    for version in reversed(versions(model_dir)):
        folder = os.path.join(model_dir, str(version))
        if os.path.isfile(os.path.join(folder, "saved_model.pb")):
            return folder
    raise ConfigError(
        f"no SavedModel in {model_dir}: pass a pushed version folder "
        "(<serving_root>/<model_name>/<version>) or the model folder above it"
    )


def predict_saved_model(
    model_dir: str, images: Sequence[str], batch_size: int = 32
) -> list[Prediction]:
    """Run the pushed SavedModel's image signature in this process, with no server."""
    import tensorflow as tf

    from signpipe.serving_client import IMAGE_INPUT, IMAGE_SIGNATURE

    folder = saved_model_folder(model_dir)
    signatures = tf.saved_model.load(folder).signatures
    if IMAGE_SIGNATURE not in signatures:
        raise ConfigError(
            f"the SavedModel in {folder} has no '{IMAGE_SIGNATURE}' signature "
            f"(it has {sorted(signatures)}): it was not exported by signpipe's Trainer"
        )
    serve = signatures[IMAGE_SIGNATURE]

    def predict_batch(encoded: list[bytes]) -> list[tuple[str, int, float]]:
        try:
            outputs = serve(**{IMAGE_INPUT: tf.constant(encoded)})
        except tf.errors.InvalidArgumentError as err:
            raise InputRejected(err.message.splitlines()[0]) from None
        return list(
            zip(
                [label.decode() for label in outputs["label"].numpy()],
                outputs["class_index"].numpy().tolist(),
                outputs["confidence"].numpy().tolist(),
                strict=True,
            )
        )

    return classify_files(images, predict_batch, batch_size)


def server_predictor(client: ServingClient) -> BatchPredictor:
    """A batch predictor that asks TF Serving through `client`."""

    def predict_batch(encoded: list[bytes]) -> list[tuple[str, int, float]]:
        rows = client.predict(encoded)
        return [(row["label"], row["class_index"], row["confidence"]) for row in rows]

    return predict_batch


def predict_server(options: ServingOptions, images: Sequence[str]) -> list[Prediction]:
    """Ask TF Serving (gRPC or REST) about image files."""
    with ServingClient(options) as client:
        return classify_files(images, server_predictor(client), options.batch_size)


def as_json(predictions: Sequence[Prediction]) -> str:
    """The predictions as a JSON list, for machines."""
    return json.dumps(
        [{k: v for k, v in dataclasses.asdict(p).items() if v is not None} for p in predictions],
        ensure_ascii=False,
        indent=2,
    )
