"""Classify image files with a signpipe model: a TFLite file, a SavedModel, or TF Serving.

Every image gets its own answer or its own error: an unreadable or corrupt file is named
and the other images are still classified. For a model that reads the hand (the SavedModel's
`serving_hands`, and TFLite files), MediaPipe finds it here first, as ExampleGen did for
training: the model's image is the crop around the hand, or the whole frame when none is found.
"""

import dataclasses
import functools
import json
import os
from collections.abc import Callable, Sequence

import numpy as np

from signpipe.components.image_folder_example_gen.hand_analysis import (
    NO_HAND,
    HandAnalyzer,
    HandFacts,
)
from signpipe.errors import ConfigError
from signpipe.inference.serving_client import (
    DEFAULT_HAND_MIN_CONFIDENCE,
    InputRejected,
    ServingClient,
    ServingOptions,
    find_hand,
    hand_request,
)
from signpipe.models import features

LABELS_FILE = "labels.txt"


@dataclasses.dataclass(frozen=True)
class ImageInput:
    """One encoded image and, for a model that reads the hand, what MediaPipe found in it."""

    encoded: bytes
    hand: HandFacts | None = None  # None: the model takes the image bytes alone


# Images in; (label, class index, confidence) per image out; InputRejected when any of
# them cannot be decoded.
BatchPredictor = Callable[[list[ImageInput]], list[tuple[str, int, float]]]


@dataclasses.dataclass
class Prediction:
    """What a model said about one image, or why it could not say."""

    image: str
    label: str | None = None
    class_index: int | None = None
    confidence: float | None = None
    hand_found: bool | None = None  # None: the model does not read the hand
    error: str | None = None

    def line(self) -> str:
        """`path: label (97.1%, hand found)` or `path: error: ...`."""
        if self.error:
            return f"{self.image}: error: {self.error}"
        hand = ""
        if self.hand_found is not None:
            hand = ", hand found" if self.hand_found else ", no hand found: whole frame"
        return f"{self.image}: {self.label} ({self.confidence:.1%}{hand})"


def classify_files(
    paths: Sequence[str],
    predict_batch: BatchPredictor,
    batch_size: int = 32,
    hands: HandAnalyzer | None = None,
) -> list[Prediction]:
    """Read, check and classify image files in batches; one Prediction per path, in order.

    With `hands`, MediaPipe looks for the hand in each image once, before any batch is sent.
    """
    from signpipe.components.image_folder_example_gen.image_facts import (
        BadImageError,
        decodable_bytes,
    )

    results: list[Prediction | None] = [None] * len(paths)
    pending: list[tuple[int, ImageInput]] = []
    for index, path in enumerate(paths):
        try:
            with open(path, "rb") as handle:
                encoded = decodable_bytes(handle.read())
        except OSError as err:
            results[index] = Prediction(path, error=f"cannot read the file: {err.strerror}")
            continue
        except BadImageError as err:
            results[index] = Prediction(path, error=str(err))
            continue
        hand = find_hand(hands, encoded) if hands is not None else None
        pending.append((index, ImageInput(encoded, hand)))
    size = max(1, batch_size)
    for start in range(0, len(pending), size):
        for index, answer in classify_encoded(pending[start : start + size], predict_batch):
            results[index] = dataclasses.replace(answer, image=paths[index])
    return [result for result in results if result is not None]


def classify_encoded(
    batch: list[tuple[int, ImageInput]], predict_batch: BatchPredictor
) -> list[tuple[int, Prediction]]:
    """Classify (key, image) pairs; a rejected batch is split until the bad images are
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
        (key, Prediction("", label, class_index, confidence, _found(image)))
        for (key, image), (label, class_index, confidence) in zip(batch, answers, strict=True)
    ]


def _found(image: ImageInput) -> bool | None:
    return None if image.hand is None else image.hand.found


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


def transformed_inputs(
    encoded: Sequence[bytes], hands: Sequence[HandFacts], size: int
) -> dict[str, np.ndarray]:
    """The model's inputs (hand crop, landmark features, found flag) made by Transform's
    own code from image bytes and their hands."""
    import tensorflow as tf

    request = hand_request(list(encoded), list(hands))
    raw = {features.IMAGE_KEY: request.pop(features.IMAGE_BYTES_INPUT), **request}
    made = _hand_inputs_graph()({key: tf.constant(value) for key, value in raw.items()}, size)
    return {key: value.numpy() for key, value in made.items()}


@functools.cache
def _hand_inputs_graph():
    """Transform's hand_inputs as one graph: eagerly, each image's crop ran op by op (the
    run report's 240 images took 9 s, 1.4 s as a graph)."""
    import tensorflow as tf

    from signpipe.models.preprocessing import hand_inputs

    return tf.function(hand_inputs, reduce_retracing=True, autograph=False)


def tflite_predictor(classifier, labels: Sequence[str]) -> BatchPredictor:
    """A batch predictor on a TFLiteClassifier: the model's inputs made as Transform makes
    them (hand crop, landmark features, found flag) from each image and its hand."""
    import tensorflow as tf

    # A landmarks-only model has no image input; the crop hand_inputs makes is then unused.
    size = classifier.image_size or 1

    def predict_batch(images: list[ImageInput]) -> list[tuple[str, int, float]]:
        hands = [image.hand or NO_HAND for image in images]  # None: the whole frame
        try:
            made = transformed_inputs([image.encoded for image in images], hands, size)
        except tf.errors.InvalidArgumentError as err:
            raise InputRejected(err.message.splitlines()[0]) from None
        inputs = {name: made[name] for name in classifier.input_names}
        probabilities = classifier.probabilities(inputs)
        answers = []
        for row in probabilities:
            index = int(np.argmax(row))
            if index >= len(labels):
                raise ConfigError(
                    f"the model has more classes than the {len(labels)} labels given: use the "
                    f"{LABELS_FILE} written with this model"
                )
            answers.append((labels[index], index, float(row[index])))
        return answers

    return predict_batch


def predict_tflite(
    model_path: str,
    images: Sequence[str],
    labels_path: str | None = None,
    threads: int = 1,
    hand_min_confidence: float = DEFAULT_HAND_MIN_CONFIDENCE,
) -> list[Prediction]:
    """Run a signpipe TFLite file on image files, MediaPipe and preprocessing as in training."""
    from signpipe.components.tflite_exporter.tflite_classifier import TFLiteClassifier

    if not os.path.isfile(model_path):
        raise ConfigError(f"TFLite model {model_path} does not exist")
    classifier = TFLiteClassifier(model_path, threads=threads)
    predict_batch = tflite_predictor(classifier, _labels(model_path, labels_path))
    if not reads_hand_crops(model_path):
        return classify_files(images, predict_batch)  # whole frames, as in training
    hands = HandAnalyzer(hand_min_confidence)
    try:
        return classify_files(images, predict_batch, hands=hands)
    finally:
        hands.close()


def reads_hand_crops(model_path: str) -> bool:
    """Whether a TFLite file's model was trained on hand crops, as the exporter's report
    beside it says; a file without that report is taken to be (the default)."""
    from signpipe.components.artifacts import TFLiteModels

    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), TFLiteModels.REPORT_JSON)
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except FileNotFoundError:
        return True
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"cannot read {path} ({err}): keep the exporter's report beside the model, or "
            "remove it to assume a hand-crop model"
        ) from None
    return bool(report.get("hand_crop", True))


def saved_model_folder(model_dir: str) -> str:
    """The SavedModel in `model_dir`, or in its newest numbered version folder."""
    from signpipe.components.model_directory import versions

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
    model_dir: str,
    images: Sequence[str],
    batch_size: int = 32,
    hand_min_confidence: float = DEFAULT_HAND_MIN_CONFIDENCE,
) -> list[Prediction]:
    """Run the pushed SavedModel in this process, with no server: serving_hands (MediaPipe
    here) when it has it, else serving_images."""
    import tensorflow as tf

    folder = saved_model_folder(model_dir)
    signatures = tf.saved_model.load(folder).signatures
    if features.HANDS_SIGNATURE in signatures:
        name = features.HANDS_SIGNATURE
    elif features.IMAGE_SIGNATURE in signatures:
        name = features.IMAGE_SIGNATURE
    else:
        raise ConfigError(
            f"the SavedModel in {folder} has neither '{features.HANDS_SIGNATURE}' nor "
            f"'{features.IMAGE_SIGNATURE}' (it has {sorted(signatures)}): it was not exported by "
            "signpipe's Trainer"
        )
    serve = signatures[name]

    def predict_batch(batch: list[ImageInput]) -> list[tuple[str, int, float]]:
        encoded = [image.encoded for image in batch]
        if name == features.HANDS_SIGNATURE:
            inputs = hand_request(encoded, [image.hand for image in batch])
        else:
            inputs = {features.IMAGE_BYTES_INPUT: np.array(encoded, dtype=object)}
        try:
            outputs = serve(**{key: tf.constant(value) for key, value in inputs.items()})
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

    hands = HandAnalyzer(hand_min_confidence) if name == features.HANDS_SIGNATURE else None
    try:
        return classify_files(images, predict_batch, batch_size, hands)
    finally:
        if hands is not None:
            hands.close()


def server_predictor(client: ServingClient) -> BatchPredictor:
    """A batch predictor that asks TF Serving through `client`, with the hands it was given."""

    def predict_batch(batch: list[ImageInput]) -> list[tuple[str, int, float]]:
        given = [image.hand for image in batch]
        hands = None if None in given else given
        rows = client.predict([image.encoded for image in batch], hands)
        return [(row["label"], row["class_index"], row["confidence"]) for row in rows]

    return predict_batch


def predict_server(options: ServingOptions, images: Sequence[str]) -> list[Prediction]:
    """Ask TF Serving (gRPC or REST) about image files; MediaPipe runs here when the served
    model has serving_hands."""
    with ServingClient(options) as client:
        return classify_files(
            images, server_predictor(client), options.batch_size, client.hand_analyzer
        )


def as_json(predictions: Sequence[Prediction]) -> str:
    """The predictions as a JSON list, for machines."""
    return json.dumps(
        [{k: v for k, v in dataclasses.asdict(p).items() if v is not None} for p in predictions],
        ensure_ascii=False,
        indent=2,
    )
