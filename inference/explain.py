"""Explain a pushed model's answers: the image, integrated gradients and Grad-CAM side by side.

For a model that reads the hand, MediaPipe finds it first and the maps are taken on the
image branch, over the hand crop it sees, with the landmarks fed as they are. A
landmarks-only model has no image branch: its image is shown without maps.
"""

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from signpipe.components.image_folder_example_gen.hand_analysis import (
    NO_HAND,
    HandAnalyzer,
    HandFacts,
)
from signpipe.errors import ConfigError
from signpipe.inference.predict import Prediction
from signpipe.inference.serving_client import DEFAULT_HAND_MIN_CONFIDENCE, find_hand
from signpipe.models import features

PANEL_INCHES = 3.2
DISPLAY_SIZE = 224  # the crop shown for a model with no image input
NO_IMAGE_BRANCH = "no image branch:\nthe model reads only\nthe hand landmarks"


@dataclasses.dataclass
class Explanation(Prediction):
    """The model's answer for one image and where its explanation was written."""

    output: str | None = None

    def line(self) -> str:
        """`path: label (97.1%, hand found) -> explanation.png` or `path: error: ...`."""
        return super().line() if self.error else f"{super().line()} -> {self.output}"


class ExplainedModel:
    """A pushed SavedModel as its Keras classifier, with the class names and its inputs."""

    def __init__(self, model_dir: str, hand_min_confidence: float = DEFAULT_HAND_MIN_CONFIDENCE):
        """Load the SavedModel and its classifier; MediaPipe starts on first use."""
        from tensorflow.python.saved_model import loader_impl

        from signpipe.inference import saliency
        from signpipe.inference.predict import saved_model_folder
        from signpipe.models.model import load_classifier

        folder = saved_model_folder(model_dir)
        # The names alone, from saved_model.pb: loading the SavedModel costs seconds, and
        # its serving function is needed only for class names (classes()).
        signatures = loader_impl.parse_saved_model(folder).meta_graphs[0].signature_def
        if features.IMAGE_SIGNATURE not in signatures:
            raise ConfigError(f"the SavedModel in {folder} was not exported by signpipe's Trainer")
        self.folder = folder
        self.model = load_classifier(folder)
        self._image_input = saliency.image_input(self.model)
        self.has_image_branch = self._image_input is not None
        self.size = DISPLAY_SIZE
        if self.has_image_branch:
            self.size = int(self.model.get_layer(self._image_input).output.shape[1])
        # Trained on hand-analysed data: the image is the hand crop and the hand is looked for.
        self.reads_hands = features.HANDS_SIGNATURE in signatures
        self._confidence = hand_min_confidence
        self._analyzer = None
        self._classes: list[str] | None = None
        self._embedder = None

    def hands(self, encoded: Sequence[bytes]) -> list[HandFacts]:
        """What MediaPipe finds in each image; NO_HAND for a model that does not read hands."""
        if not self.reads_hands:
            return [NO_HAND] * len(encoded)
        if self._analyzer is None:
            self._analyzer = HandAnalyzer(self._confidence)
        return [find_hand(self._analyzer, image) for image in encoded]

    def inputs(
        self, encoded: Sequence[bytes], hands: Sequence[HandFacts] | None = None
    ) -> dict[str, np.ndarray]:
        """The transformed inputs (image: the hand crop, or the padded frame without a hand;
        landmarks; hand_found), as the model was trained on them. `hands` as ExampleGen
        recorded them; found here when None."""
        from signpipe.inference.predict import transformed_inputs

        if hands is None or not self.reads_hands:
            hands = self.hands(encoded)
        values = transformed_inputs(encoded, hands, self.size)
        if self._image_input not in (None, features.IMAGE_FEATURE):  # models before hand input
            values[self._image_input] = values[features.IMAGE_FEATURE]
        return values

    def probabilities(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Class probabilities [N, C] on inputs made by `inputs`."""
        from signpipe.inference.saliency import model_inputs

        return self.model(model_inputs(self.model, inputs), training=False).numpy()

    def embeddings_and_probabilities(
        self, inputs: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(penultimate features [N, D], class probabilities [N, C]) in one pass, traced once
        for every later call."""
        from signpipe.inference.saliency import Embedder

        if self._embedder is None:
            self._embedder = Embedder(self.model)
        return self._embedder(inputs)

    def saliency(
        self, inputs: dict[str, np.ndarray], classes: np.ndarray, steps: int
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(integrated gradients, Grad-CAM) on the image branch; (None, None) without one."""
        from signpipe.inference import saliency

        if not self.has_image_branch:
            return None, None
        return (
            saliency.integrated_gradients(self.model, inputs, classes, steps),
            saliency.grad_cam(self.model, inputs, classes),
        )

    def classes(self, encoded: bytes) -> list[str]:
        """The class names, in the order of the model's probabilities."""
        import tensorflow as tf

        if self._classes is None:
            serve = tf.saved_model.load(self.folder).signatures[features.IMAGE_SIGNATURE]
            outputs = serve(image_bytes=tf.constant([encoded]))
            self._classes = [label.decode() for label in outputs["classes"].numpy()[0]]
        return self._classes

    def close(self) -> None:
        """Free MediaPipe."""
        if self._analyzer is not None:
            self._analyzer.close()
            self._analyzer = None


def explain_files(
    model_dir: str, paths: Sequence[str], out_dir: str, steps: int = 32
) -> list[Explanation]:
    """Write `<out_dir>/<name>.explained.png` per readable image; one Explanation per path."""
    from signpipe.components.image_folder_example_gen.image_facts import (
        BadImageError,
        decodable_bytes,
    )

    explained = ExplainedModel(model_dir)
    os.makedirs(out_dir, exist_ok=True)
    results = []
    try:
        for path in paths:
            try:
                with open(path, "rb") as handle:
                    encoded = decodable_bytes(handle.read())
            except OSError as err:
                results.append(Explanation(path, error=f"cannot read the file: {err.strerror}"))
                continue
            except BadImageError as err:
                results.append(Explanation(path, error=str(err)))
                continue
            results.append(_explain_one(explained, path, encoded, out_dir, steps))
    finally:
        explained.close()
    return results


def _explain_one(
    explained: ExplainedModel, path: str, encoded: bytes, out_dir: str, steps: int
) -> Explanation:
    [hand] = explained.hands([encoded])
    inputs = explained.inputs([encoded], [hand])
    probabilities = explained.probabilities(inputs)[0]
    predicted = np.array([int(probabilities.argmax())])
    label = explained.classes(encoded)[predicted[0]]
    ig, cam = explained.saliency(inputs, predicted, steps)
    stem = os.path.splitext(os.path.basename(path))[0]
    output = os.path.join(out_dir, f"{stem}.explained.png")
    confidence = float(probabilities[predicted[0]])
    found = hand.found if explained.reads_hands else None
    write_panels(
        output,
        inputs["image"][0],
        None if ig is None else ig[0],
        None if cam is None else cam[0],
        f"{label} ({confidence:.1%})",
    )
    return Explanation(path, label=label, confidence=confidence, hand_found=found, output=output)


def overlay(axis, image: np.ndarray, saliency_map: np.ndarray | None, title: str) -> None:
    """Draw an image (greyed under a heat map when one is given) on a matplotlib axis."""
    axis.axis("off")
    axis.set_title(title, fontsize=9)
    if saliency_map is None:
        axis.imshow(image.astype(np.uint8))
        return
    axis.imshow(image.mean(axis=-1), cmap="gray", vmin=0, vmax=255)
    axis.imshow(saliency_map, cmap="inferno", alpha=0.6, vmin=0, vmax=1)


def panels_png(
    image: np.ndarray,
    ig: np.ndarray | None,
    cam: np.ndarray | None,
    answer: str,
    inches: float = PANEL_INCHES,
) -> bytes:
    """Image | integrated gradients | Grad-CAM, side by side, as PNG bytes. Without maps (a
    model with no image branch) the image and a note saying so."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with_maps = ig is not None and cam is not None
    panels = 3 if with_maps else 2
    figure = Figure(figsize=(panels * inches, inches + 0.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels)
    overlay(axes[0], image, None, answer)
    if with_maps:
        overlay(axes[1], image, ig, "integrated gradients")
        overlay(axes[2], image, cam, "Grad-CAM")
    else:
        axes[1].axis("off")
        axes[1].text(0.5, 0.5, NO_IMAGE_BRANCH, ha="center", va="center", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def write_panels(
    output: str, image: np.ndarray, ig: np.ndarray | None, cam: np.ndarray | None, answer: str
) -> None:
    """Write image | integrated gradients | Grad-CAM (or the no-image-branch note) as a PNG."""
    with open(output, "wb") as out:
        out.write(panels_png(image, ig, cam, f"predicted {answer}"))
