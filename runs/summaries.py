"""What the newest run produced, summed up for the terminal: data, model, TFLite, schema."""

import dataclasses
import os
import shutil

from signpipe.components import ingestion_report
from signpipe.components.artifacts import DataReport
from signpipe.components.evaluation import (
    blessing_failures,
    class_name,
    describe_mistakes,
    evaluation_metrics,
    mistakes,
)
from signpipe.errors import ConfigError
from signpipe.pipeline.configs import PipelineConfig
from signpipe.runs.history import RunRecord, find_run

_SCHEMA_FILE = "schema.pbtxt"


@dataclasses.dataclass
class ModelSummary:
    """What the model half of the latest run produced."""

    eval_accuracy: float | None
    test_accuracy: float | None
    # split (eval, test) -> label: (precision, recall)
    per_class: dict[str, dict[str, tuple[float, float]]]
    blessed: bool
    why_not_blessed: list[str]
    pushed_path: str | None
    tflite: dict | None = None  # the TFLite exporter's report
    # split (eval, test) -> its confusions {true, predicted, images}, most frequent first
    mistakes: dict[str, list[dict]] = dataclasses.field(default_factory=dict)

    def describe(self) -> str:
        """Human-readable lines for the end of a run."""

        def percent(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1%}"

        lines = [
            "Model:",
            f"  eval accuracy: {percent(self.eval_accuracy)}, "
            f"test accuracy: {percent(self.test_accuracy)}",
        ]
        for split, classes in self.per_class.items():
            worst = sorted(classes.items(), key=lambda item: min(item[1]))[:3]
            lines.append(
                f"  weakest classes on {split} (precision/recall): "
                + ", ".join(f"{label} {p:.0%}/{r:.0%}" for label, (p, r) in worst)
            )
        lines += [
            f"  most confused on {split}: {describe_mistakes(counted)}"
            for split, counted in self.mistakes.items()
            if counted
        ]
        if self.blessed:
            lines.append(f"  BLESSED and pushed to {self.pushed_path}")
        else:
            lines.append("  NOT blessed, so nothing was pushed:")
            lines += [f"    - {reason}" for reason in self.why_not_blessed]
        if self.tflite:
            reference = percent(self.tflite["saved_model_accuracy"])
            lines.append(f"TFLite ({self.tflite['split']} split, SavedModel {reference}):")
            for name, result in self.tflite["variants"].items():
                if result["status"] != "ok":
                    lines.append(f"  {name}: FAILED: {result['why']}")
                    continue
                verdict = "blessed" if result["blessed"] else f"not blessed: {result['why']}"
                lines.append(
                    f"  {name}: {percent(result['accuracy'])} top-1, "
                    f"{result['size_bytes'] / 2**20:.1f} MB, "
                    f"{result['latency']['one_thread']['median_ms']:.1f} ms, {verdict}"
                )
            where = self.tflite.get("pushed_to") or self.tflite.get("not_pushed_because")
            lines.append(f"  pushed: {where}")
        return "\n".join(lines)


def model_summary(config: PipelineConfig, run: RunRecord | None = None) -> ModelSummary:
    """Summarise a run's evaluation, blessing and push; by default the newest run's."""
    run = run or find_run(config)
    evaluation = run.output("Evaluator", "evaluation")
    if evaluation is None or run.blessed is None:
        raise ConfigError(
            f"run {run.run_id} in {config.home} evaluated no model: run `signpipe run`"
        )
    labels = run.class_labels()
    evaluations = {"eval": evaluation, "test": run.output("TestEvaluator", "evaluation")}
    evaluations = {split: found for split, found in evaluations.items() if found}
    metrics = {split: evaluation_metrics(found.uri) for split, found in evaluations.items()}
    failures = blessing_failures(evaluation.uri)
    return ModelSummary(
        eval_accuracy=metrics["eval"][0],
        test_accuracy=metrics["test"][0] if "test" in metrics else None,
        per_class={
            split: {class_name(labels, class_id): values for class_id, values in classes.items()}
            for split, (_, classes) in metrics.items()
        },
        blessed=run.blessed,
        why_not_blessed=failures
        or ([] if run.blessed else ["see the Evaluator's validation result"]),
        pushed_path=run.pushed[1] if run.blessed and run.pushed else None,
        tflite=run.tflite_report(),
        mistakes={split: mistakes(found.uri, labels) for split, found in evaluations.items()},
    )


@dataclasses.dataclass
class DataSummary:
    """What the data half of the latest run found."""

    counts: dict[str, dict[str, int]]
    split_by: str
    groups: dict[str, list[str]]  # split (or fold) -> its groups, when split by group
    quarantined: int
    duplicates_dropped: int
    anomalies: int
    drift: str  # the drift verdict against the previous span
    hands: str  # the share of images with a hand found, e.g. `83% (train 85%, eval 80%)`
    report_path: str

    def describe(self) -> str:
        """Human-readable lines for the end of a run."""
        lines = ["Data:"]
        for split, per_label in self.counts.items():
            lines.append(
                f"  {split:>5}: {sum(per_label.values())} images in {len(per_label)} classes"
            )
        lines.append(f"  split by {self.split_by}")
        lines += [f"  groups in {name}: {', '.join(g)}" for name, g in self.groups.items()]
        lines += [
            f"  quarantined files: {self.quarantined}, duplicates dropped: "
            f"{self.duplicates_dropped}, anomalies: {self.anomalies}",
            f"  hands found: {self.hands}",
            f"  drift: {self.drift}",
            f"Data validation report: {self.report_path}",
        ]
        return "\n".join(lines)


def data_summary(config: PipelineConfig, run: RunRecord | None = None) -> DataSummary:
    """Summarise a run's Examples and data report; by default the newest run's."""
    run = run or find_run(config)
    examples = run.output("ImageFolderExampleGen", "examples")
    report = run.output("DataValidationReport", "report")
    if examples is None or report is None:
        raise ConfigError(
            f"run {run.run_id} in {config.home} did not validate its data: run `signpipe run`"
        )
    ingestion = ingestion_report.read_report(examples.uri)
    return DataSummary(
        counts={split: ingestion["counts"][split] for split in ingestion["split_names"]},
        split_by=ingestion["split_by"],
        groups=ingestion.get("groups", {}),
        quarantined=ingestion["totals"]["quarantined"],
        duplicates_dropped=ingestion["totals"]["duplicates_dropped"],
        anomalies=report.custom_properties["anomalies"].int_value,
        drift=report.custom_properties[DataReport.DRIFT_PROPERTY].string_value
        if DataReport.DRIFT_PROPERTY in report.custom_properties
        else "not compared",
        hands=report.custom_properties[DataReport.HANDS_PROPERTY].string_value
        if DataReport.HANDS_PROPERTY in report.custom_properties
        else "not recorded (a report from before hand analysis)",
        report_path=os.path.join(report.uri, DataReport.PAGE_FILE),
    )


def export_schema(config: PipelineConfig, out_path: str) -> str:
    """Copy the newest inferred schema to out_path for curation and return the path."""
    schema = find_run(config).output("SchemaGen", "schema")
    if schema is None:
        raise ConfigError(
            f"no inferred schema in {config.metadata_path}: run `signpipe validate ROOT` first"
        )
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    shutil.copyfile(os.path.join(schema.uri, _SCHEMA_FILE), out_path)
    return out_path
