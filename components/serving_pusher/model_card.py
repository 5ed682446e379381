"""The model card pushed with each served version: what it learned from, how good, why shipped."""

import dataclasses
import os
from typing import Any

from signpipe.models import features

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"
# The signatures a consumer calls; a SavedModel has serving_hands only when its training
# data had hand analysis (data.hand_analysis, the default).
SIGNATURES = {
    features.EXAMPLES_SIGNATURE: "examples: serialized tf.Example protos with an `image_raw` bytes "
    "feature, and `hand_found`, `hand_landmarks`, `handedness` as ExampleGen writes them "
    "(absent: no hand, the whole frame)",
    features.HANDS_SIGNATURE: "image_bytes [N] encoded JPEG, PNG, GIF or BMP bytes (base64 "
    "over REST); hand_found [N] int64, 1 when MediaPipe Hands found a hand, else 0; hand_landmarks "
    "[N, 63] float32, its 21 landmarks as x, y, z (x and y in [0, 1] of the image, zeros "
    "when no hand); handedness [N] string, left, right or none. TF Serving cannot run "
    "MediaPipe: the client runs Hands 0.10.9 as ingestion did (static images, one hand, "
    "detection confidence data.hand_min_confidence, 0.5 by default) and sends what it "
    "found. The model then sees the hand crop it was trained on: prefer this signature",
    features.IMAGE_SIGNATURE: "image_bytes: encoded JPEG, PNG, GIF or BMP bytes (base64 over "
    "REST); no hand is looked for, so the model sees the whole frame",
}
INPUTS = {
    "image": "the hand crop (the whole frame when no hand is found)",
    "landmarks": "MediaPipe's 21 hand landmarks (hand shape) and whether a hand was found",
    "both": "the hand crop and MediaPipe's 21 hand landmarks, fused",
}
OUTPUTS = {
    "label": "the predicted class name",
    "class_index": "its index in `classes`",
    "confidence": "its probability",
    "probabilities": "one probability per class, in `classes` order",
    "classes": "the class names, the same list for every image",
}


@dataclasses.dataclass
class ModelCard:
    """Everything a consumer of one pushed version should know about it."""

    model_name: str
    version: int
    pushed_at: str  # UTC, ISO 8601
    pipeline_run_id: str | None
    model_artifact: str
    classes: list[str]
    data: dict[str, Any]  # data_root, span, counts per split and class, quarantined files
    metrics: dict[str, Any]  # eval (accuracy, per-class) and test accuracy
    blessing: dict[str, Any]  # blessed, the baseline it was compared with
    training: dict[str, Any]  # inputs, backbone, weights, image size, epochs, ...
    # None: the SIGNATURES the model artifact's SavedModel has, read from it
    signatures: dict[str, str] | None = None
    outputs: dict[str, str] = dataclasses.field(default_factory=lambda: dict(OUTPUTS))

    def __post_init__(self) -> None:
        if self.signatures is None:
            from tfx.utils import path_utils

            self.signatures = served_signatures(path_utils.serving_model_path(self.model_artifact))

    def as_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data."""
        return dataclasses.asdict(self)

    def markdown(self) -> str:
        """The card for people."""

        def percent(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1%}"

        training = self.training
        inputs = training.get("inputs", "image")  # models before hand input were image only
        backbone = [
            f"- Backbone: {training.get('backbone')} ({training.get('backbone_weights')} "
            f"weights), {training.get('image_size')} px input"
        ]
        lines = [
            f"# Model card: {self.model_name}, version {self.version}",
            "",
            f"- Pushed: {self.pushed_at} (pipeline run `{self.pipeline_run_id or 'n/a'}`)",
            f"- Trained model artifact: `{self.model_artifact}`",
            f"- Trained on: {inputs}, {INPUTS.get(inputs, 'inputs unknown to this card')}",
            *(backbone if inputs != "landmarks" else []),
            f"- Blessed: {'yes' if self.blessing.get('blessed') else 'no'}; compared with "
            f"{self.blessing.get('baseline_model') or 'no earlier blessed model (first push)'}"
            + (f" (found in {found})" if (found := self.blessing.get("baseline_found_in")) else ""),
            "",
            "## Metrics",
            "",
            f"- Eval accuracy: {percent(self.metrics.get('eval_accuracy'))}",
            f"- Test accuracy: {percent(self.metrics.get('test_accuracy'))}",
            "",
            "| class | precision (eval) | recall (eval) | precision (test) | recall (test) |",
            "|---|---|---|---|---|",
        ]
        test = self.metrics.get("per_class_test", {})
        for label, values in sorted(self.metrics.get("per_class", {}).items()):
            tested = test.get(label, {})
            lines.append(
                f"| {label} | {percent(values['precision'])} | {percent(values['recall'])} "
                f"| {percent(tested.get('precision'))} | {percent(tested.get('recall'))} |"
            )
        splits = self.data.get("counts", {})
        lines += [
            "",
            "## Data",
            "",
            f"- Root: `{self.data.get('data_root')}`, span {self.data.get('span')}",
            f"- Split by: {self.data.get('split_by')}; quarantined files: "
            f"{self.data.get('quarantined')}, duplicates dropped: "
            f"{self.data.get('duplicates_dropped')}",
            *(
                f"- Groups in {split}: {', '.join(groups)}"
                for split, groups in self.data.get("groups", {}).items()
            ),
            "",
            "| class | " + " | ".join(splits) + " |",
            "|---|" + "---|" * len(splits),
        ]
        for label in self.classes:
            counts = [str(splits[split].get(label, 0)) for split in splits]
            lines.append(f"| {label} | " + " | ".join(counts) + " |")
        lines += ["", "## Serving signatures", ""]
        lines += [f"- `{name}`: {text}" for name, text in self.signatures.items()]
        lines += ["", "Outputs:", ""]
        lines += [f"- `{name}`: {text}" for name, text in self.outputs.items()]
        return "\n".join(lines) + "\n"


def served_signatures(saved_model_dir: str) -> dict[str, str]:
    """The SIGNATURES a SavedModel has, read from its saved_model.pb (no graph is loaded)."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tfx.dsl.io import fileio

    path = os.path.join(saved_model_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with fileio.open(path, "rb") as handle:
        saved_model.ParseFromString(handle.read())
    names = {name for graph in saved_model.meta_graphs for name in graph.signature_def}
    return {name: text for name, text in SIGNATURES.items() if name in names}
