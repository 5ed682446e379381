"""Explain a pushed model's answers: the image, integrated gradients and Grad-CAM side by side."""

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from signpipe.errors import ConfigError

PANEL_INCHES = 3.2


@dataclasses.dataclass
class Explanation:
    """The model's answer for one image and where its explanation was written."""

    image: str
    label: str | None = None
    confidence: float | None = None
    output: str | None = None
    error: str | None = None

    def line(self) -> str:
        """`path: label (97.1%) -> explanation.png` or `path: error: ...`."""
        if self.error:
            return f"{self.image}: error: {self.error}"
        return f"{self.image}: {self.label} ({self.confidence:.1%}) -> {self.output}"


class ExplainedModel:
    """A pushed SavedModel as its Keras classifier, with the class names and input size."""

    def __init__(self, model_dir: str):
        import tensorflow as tf

        from signpipe.models.model import load_classifier
        from signpipe.predict import saved_model_folder
        from signpipe.serving_client import IMAGE_SIGNATURE

        folder = saved_model_folder(model_dir)
        signatures = tf.saved_model.load(folder).signatures
        if IMAGE_SIGNATURE not in signatures:
            raise ConfigError(f"the SavedModel in {folder} was not exported by signpipe's Trainer")
        self.folder = folder
        self.model = load_classifier(folder)
        self.size = int(self.model.input_shape[1])
        self._serve = signatures[IMAGE_SIGNATURE]
        self._classes: list[str] | None = None

    def decode(self, encoded: Sequence[bytes]) -> np.ndarray:
        """Images as the model sees them: decoded, padded to square, resized, [0, 255]."""
        import tensorflow as tf

        from signpipe.models.preprocessing import decode_and_resize

        return decode_and_resize(tf.constant(list(encoded)), self.size).numpy()

    def classes(self, encoded: bytes) -> list[str]:
        """The class names, in the order of the model's probabilities."""
        import tensorflow as tf

        if self._classes is None:
            outputs = self._serve(image_bytes=tf.constant([encoded]))
            self._classes = [label.decode() for label in outputs["classes"].numpy()[0]]
        return self._classes


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
    return results


def _explain_one(explained: ExplainedModel, path: str, encoded: bytes, out_dir: str, steps: int):
    from signpipe.models import saliency

    image = explained.decode([encoded])
    probabilities = explained.model(image, training=False).numpy()[0]
    predicted = np.array([int(probabilities.argmax())])
    label = explained.classes(encoded)[predicted[0]]
    ig = saliency.integrated_gradients(explained.model, image, predicted, steps)[0]
    cam = saliency.grad_cam(explained.model, image, predicted)[0]
    stem = os.path.splitext(os.path.basename(path))[0]
    output = os.path.join(out_dir, f"{stem}.explained.png")
    confidence = float(probabilities[predicted[0]])
    write_panels(output, image[0], ig, cam, f"{label} ({confidence:.1%})")
    return Explanation(path, label, confidence, output)


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
    image: np.ndarray, ig: np.ndarray, cam: np.ndarray, answer: str, inches: float = PANEL_INCHES
) -> bytes:
    """Image | integrated gradients | Grad-CAM, side by side, as PNG bytes."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3 * inches, inches + 0.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    overlay(axes[0], image, None, answer)
    overlay(axes[1], image, ig, "integrated gradients")
    overlay(axes[2], image, cam, "Grad-CAM")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def write_panels(
    output: str, image: np.ndarray, ig: np.ndarray, cam: np.ndarray, answer: str
) -> None:
    """Write image | integrated gradients | Grad-CAM as one PNG file."""
    with open(output, "wb") as out:
        out.write(panels_png(image, ig, cam, f"predicted {answer}"))
