"""Classify image files with a model file; one result (or one error) per image."""

import dataclasses
import json
import os
from collections.abc import Sequence

from signpipe.errors import ConfigError

LABELS_FILE = "labels.txt"


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
    results = []
    for image in images:
        try:
            with open(image, "rb") as handle:
                encoded = handle.read()
            pixels = decode_and_resize(tf.constant([encoded]), classifier.image_size).numpy()
        except OSError as err:
            results.append(Prediction(image, error=f"cannot read the file: {err.strerror}"))
            continue
        except (tf.errors.InvalidArgumentError, ValueError):
            results.append(Prediction(image, error="not a JPEG, PNG, GIF or BMP image"))
            continue
        probabilities = classifier.probabilities(pixels)[0]
        index = int(np.argmax(probabilities))
        if index >= len(labels):
            raise ConfigError(
                f"the model has more classes than the {len(labels)} labels given: use the "
                f"{LABELS_FILE} written with this model"
            )
        results.append(Prediction(image, labels[index], index, float(probabilities[index])))
    return results


def as_json(predictions: Sequence[Prediction]) -> str:
    """The predictions as a JSON list, for machines."""
    return json.dumps(
        [{k: v for k, v in dataclasses.asdict(p).items() if v is not None} for p in predictions],
        ensure_ascii=False,
        indent=2,
    )
