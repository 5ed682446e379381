"""Explain a pushed model's answers: how each branch voted, which joints of the hand and
which pixels moved the answer.

For a model that reads the hand, MediaPipe finds it first. The image maps (integrated
gradients, Grad-CAM) are taken on the image branch, over the hand crop it sees, with the
landmarks fed as they are; the joints' attributions on the landmark branch, with the
image held (`landmark_attribution.py`). A landmarks-only model has no image maps.
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
from signpipe.inference.explanation_figure import ImageExplanation, panels_png
from signpipe.inference.output_names import unique_names
from signpipe.inference.predict import Prediction
from signpipe.inference.serving_client import DEFAULT_HAND_MIN_CONFIDENCE, find_hand
from signpipe.models import features

DISPLAY_SIZE = 224  # the crop shown for a model with no image input
SUFFIX = ".explained.png"


@dataclasses.dataclass
class Explanation(Prediction):
    """The model's answer for one image and where its explanation was written."""

    output: str | None = None
    votes: str | None = None  # Votes.line(): the answer and how each branch voted
    top_joints: str | None = None  # the joints that weighed most; "" without a hand

    def line(self) -> str:
        """`path: label (97.1%, hand found) -> explanation.png`, then the branches' votes
        and the joints that weighed most; or `path: error: ...`."""
        if self.error:
            return super().line()
        joints = f"\n  joints that weighed most: {self.top_joints}" if self.top_joints else ""
        return f"{super().line()} -> {self.output}\n  {self.votes}{joints}"


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
        self._branches = None

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

    def explain(
        self,
        encoded: Sequence[bytes],
        hands: Sequence[HandFacts],
        classes: list[str],
        steps: int,
    ) -> list[ImageExplanation]:
        """Each image's answer with the branches' votes, the hand's joint attributions
        (a hand found) and the image maps (an image branch), `hands` as ExampleGen found
        them; the maps take `steps` integrated-gradients steps."""
        from signpipe.inference import landmark_attribution
        from signpipe.inference.branches import Branches

        hands = list(hands) if self.reads_hands else self.hands(encoded)
        inputs = self.inputs(encoded, hands)
        if self._branches is None:
            self._branches = Branches(self.model)
        head_inputs = self._branches.head_inputs(inputs)
        votes = self._branches.votes(head_inputs, classes)
        answers = np.array([classes.index(v.label) for v in votes])
        ig, cam = self.saliency(inputs, answers, steps)
        sizes = [_width_height(image) for image in encoded]
        attributions = landmark_attribution.attribute(
            self._branches,
            head_inputs,
            hands,
            np.array([width / height for width, height in sizes]),
            answers,
        )
        return [
            ImageExplanation(
                image=inputs[features.IMAGE_FEATURE][row],
                votes=votes[row],
                ig=None if ig is None else ig[row],
                cam=None if cam is None else cam[row],
                hand_points=self._hand_points(hands[row], sizes[row]),
                hand=attributions[row],
            )
            for row in range(len(encoded))
        ]

    def _hand_points(self, hand: HandFacts, size: tuple[int, int]) -> np.ndarray | None:
        """The hand's 21 landmarks [21, 2] in the pixels of its crop; None without a hand or
        a landmark branch."""
        from signpipe.models.preprocessing import hand_box

        if not (hand.found and self._branches.reads_landmarks):
            return None
        width, height = size
        top, left, bottom, _ = hand_box(hand.landmarks, 1, height, width).numpy()
        points = np.reshape(hand.landmarks, (features.LANDMARK_COUNT, 3))[:, :2]
        return (points * [width, height] - [left, top]) * self.size / (bottom - top)

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


def _width_height(encoded: bytes) -> tuple[int, int]:
    from signpipe.components.image_folder_example_gen.image_facts import open_image

    return open_image(encoded).size


def explain_files(
    model_dir: str, paths: Sequence[str], out_dir: str, steps: int = 32, overwrite: bool = False
) -> list[Explanation]:
    """Write `<out_dir>/<name>.explained.png` per readable image, `<name>` unique among
    `paths` (`output_names.unique_names`); one Explanation per path. An output an earlier
    call left is replaced only with `overwrite`: without, nothing is written and
    ConfigError names it."""
    from signpipe.components.image_folder_example_gen.image_facts import (
        BadImageError,
        decodable_bytes,
    )

    outputs = {
        path: os.path.join(out_dir, f"{name}{SUFFIX}") for path, name in unique_names(paths).items()
    }
    existing = sorted({output for output in outputs.values() if os.path.exists(output)})
    if existing and not overwrite:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise ConfigError(
            f"{', '.join(existing[:3])}{more} already exist from an earlier call: pass "
            "--overwrite to replace them, or another --out"
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
            results.append(_explain_one(explained, path, encoded, outputs[path], steps))
    finally:
        explained.close()
    return results


def _explain_one(
    explained: ExplainedModel, path: str, encoded: bytes, output: str, steps: int
) -> Explanation:
    [hand] = explained.hands([encoded])
    [view] = explained.explain([encoded], [hand], explained.classes(encoded), steps)
    with open(output, "wb") as out:
        out.write(panels_png(view))
    return Explanation(
        path,
        label=view.votes.label,
        confidence=view.votes.probability,
        hand_found=hand.found if explained.reads_hands else None,
        output=output,
        votes=view.votes.line(),
        top_joints=view.top_joints(),
    )
