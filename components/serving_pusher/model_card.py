"""The model card pushed with each served version: what it learned from, how good, why shipped."""

import dataclasses
from typing import Any

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"
SIGNATURES = {
    "serving_default": "examples: serialized tf.Example protos with an `image_raw` bytes feature",
    "serving_images": "image_bytes: encoded JPEG, PNG, GIF or BMP bytes (base64 over REST)",
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
    training: dict[str, Any]  # backbone, weights, image size, epochs, ...
    signatures: dict[str, str] = dataclasses.field(default_factory=lambda: dict(SIGNATURES))
    outputs: dict[str, str] = dataclasses.field(default_factory=lambda: dict(OUTPUTS))

    def as_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data."""
        return dataclasses.asdict(self)

    def markdown(self) -> str:
        """The card for people."""

        def percent(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1%}"

        training = self.training
        lines = [
            f"# Model card: {self.model_name}, version {self.version}",
            "",
            f"- Pushed: {self.pushed_at} (pipeline run `{self.pipeline_run_id or 'n/a'}`)",
            f"- Trained model artifact: `{self.model_artifact}`",
            f"- Backbone: {training.get('backbone')} ({training.get('backbone_weights')} "
            f"weights), {training.get('image_size')} px input",
            f"- Blessed: {'yes' if self.blessing.get('blessed') else 'no'}; compared with "
            f"{self.blessing.get('baseline_model') or 'no earlier blessed model (first push)'}",
            "",
            "## Metrics",
            "",
            f"- Eval accuracy: {percent(self.metrics.get('eval_accuracy'))}",
            f"- Test accuracy: {percent(self.metrics.get('test_accuracy'))}",
            "",
            "| class | precision (eval) | recall (eval) |",
            "|---|---|---|",
        ]
        for label, values in sorted(self.metrics.get("per_class", {}).items()):
            lines.append(
                f"| {label} | {percent(values['precision'])} | {percent(values['recall'])} |"
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
