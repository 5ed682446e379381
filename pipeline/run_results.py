"""Read what the latest run produced from the ML Metadata store."""

import dataclasses
import json
import os
import shutil

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from signpipe.components.data_validation_report.component import DataReport
from signpipe.components.data_validation_report.executor import (
    DRIFT_PROPERTY,
    HANDS_PROPERTY,
    REPORT_FILE,
)
from signpipe.components.image_folder_example_gen import ingestion_report
from signpipe.errors import ConfigError
from signpipe.pipeline.configs import PipelineConfig

_SCHEMA_FILE = "schema.pbtxt"


@dataclasses.dataclass(frozen=True)
class ComponentExecution:
    """One component's execution in one pipeline run."""

    execution_id: int
    component: str
    run_id: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, ...
    seconds: float


def open_store(config: PipelineConfig, read_only: bool = False) -> metadata_store.MetadataStore:
    """A connection to the pipeline's SQLite ML Metadata store."""
    connection = metadata.sqlite_metadata_connection_config(config.metadata_path)
    if read_only:  # never races the run that is creating the store's tables
        connection.sqlite.connection_mode = connection.sqlite.READONLY
    return metadata_store.MetadataStore(connection)


def component_executions(
    config: PipelineConfig,
    after_id: int = 0,
    store: metadata_store.MetadataStore | None = None,
) -> list[ComponentExecution]:
    """Component executions in the store with an id above after_id, oldest first."""
    if store is None:
        if not os.path.exists(config.metadata_path):
            return []
        store = open_store(config)
    context_types = {t.id: t.name for t in store.get_context_types()}
    executions = []
    newer = metadata_store.ListOptions(filter_query=f"id > {after_id}")
    for execution in sorted(store.get_executions(list_options=newer), key=lambda e: e.id):
        names = {
            context_types[c.type_id]: c.name for c in store.get_contexts_by_execution(execution.id)
        }
        elapsed = execution.last_update_time_since_epoch - execution.create_time_since_epoch
        executions.append(
            ComponentExecution(
                execution_id=execution.id,
                component=names.get("node", "").rpartition(".")[2],
                run_id=names.get("pipeline_run", ""),
                state=metadata_store_pb2.Execution.State.Name(execution.last_known_state),
                seconds=elapsed / 1000.0,
            )
        )
    return executions


def latest_artifact(
    config: PipelineConfig, type_name: str, component: str | None = None
) -> metadata_store_pb2.Artifact | None:
    """The newest live artifact of a type in this pipeline's store; if named, one step's output."""
    if not os.path.exists(config.metadata_path):
        return None
    store = open_store(config)
    artifacts = store.get_artifacts_by_type(type_name)
    if component is not None:
        node = store.get_context_by_type_and_name("node", f"{config.pipeline_name}.{component}")
        if node is None:
            return None
        # The node context also holds the component's inputs: only OUTPUT events say it made them.
        executions = [execution.id for execution in store.get_executions_by_context(node.id)]
        produced = {
            event.artifact_id
            for event in store.get_events_by_execution_ids(executions)
            if event.type == metadata_store_pb2.Event.OUTPUT
        }
        artifacts = [artifact for artifact in artifacts if artifact.id in produced]
    live = [a for a in artifacts if a.state == metadata_store_pb2.Artifact.LIVE]
    return max(live, key=lambda artifact: artifact.id, default=None)


def tfx_artifact(stored: metadata_store_pb2.Artifact, artifact_class: type):
    """A TFX artifact object (uri and split names) for an artifact read from the store."""
    artifact = artifact_class()
    artifact.uri = stored.uri
    if "split_names" in stored.properties:
        artifact.split_names = stored.properties["split_names"].string_value
    return artifact


@dataclasses.dataclass
class ModelSummary:
    """What the model half of the latest run produced."""

    eval_accuracy: float | None
    test_accuracy: float | None
    per_class: dict[str, tuple[float, float]]  # label: (precision, recall) on the eval split
    blessed: bool
    why_not_blessed: list[str]
    pushed_path: str | None
    tflite: dict | None = None  # the TFLite exporter's report

    def describe(self) -> str:
        """Human-readable lines for the end of a run."""

        def percent(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1%}"

        lines = [
            "Model:",
            f"  eval accuracy: {percent(self.eval_accuracy)}, "
            f"test accuracy: {percent(self.test_accuracy)}",
        ]
        if self.per_class:
            worst = sorted(self.per_class.items(), key=lambda item: min(item[1]))[:3]
            lines.append(
                "  weakest classes (precision/recall): "
                + ", ".join(f"{label} {p:.0%}/{r:.0%}" for label, (p, r) in worst)
            )
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


def evaluation_metrics(uri: str) -> tuple[float | None, dict[int, tuple[float, float]]]:
    """Overall accuracy of a TFMA evaluation and {class id: (precision, recall)}."""
    import tensorflow_model_analysis as tfma

    from signpipe.pipeline.class_metrics import PRECISION, RECALL
    from signpipe.pipeline.evaluation import ACCURACY

    accuracy, per_class = None, {}
    for slice_key, metrics in tfma.load_eval_result(uri).slicing_metrics:
        if slice_key:
            continue
        by_sub_key = metrics.get("", {})
        accuracy = by_sub_key.get("", {}).get(ACCURACY, {}).get("doubleValue")
        for sub_key, values in by_sub_key.items():
            if sub_key.startswith("classId:") and PRECISION in values:
                per_class[int(sub_key.partition(":")[2])] = (
                    values[PRECISION]["doubleValue"],
                    values[RECALL]["doubleValue"],
                )
    return accuracy, per_class


def blessing_failures(uri: str) -> list[str]:
    """The failed blessing thresholds of a TFMA evaluation, in words."""
    import tensorflow_model_analysis as tfma

    failures = []
    validation = tfma.load_validation_result(uri)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            threshold = failure.metric_threshold
            value = failure.metric_value.double_value.value
            if threshold.HasField("value_threshold"):
                floor = threshold.value_threshold.lower_bound.value
                failures.append(
                    f"{failure.metric_key.name} {value:.3f} is below the floor {floor:.3f}"
                    " (evaluation.accuracy_floor)"
                )
            else:
                drop = -threshold.change_threshold.absolute.value
                failures.append(
                    f"{failure.metric_key.name} changed by {value:+.3f} against the last "
                    f"blessed model; the allowed drop is {drop:.3f} (evaluation.max_accuracy_drop)"
                )
    return failures


def class_labels_of(transform_graph_uri: str) -> list[str]:
    """Label strings by class index, from a transform graph's vocabulary."""
    import tensorflow_transform as tft

    from signpipe.models.preprocessing import class_labels

    return class_labels(tft.TFTransformOutput(transform_graph_uri))


def _class_labels(config: PipelineConfig) -> list[str]:
    """Label strings by class index, from the newest transform graph's vocabulary."""
    graph = latest_artifact(config, "TransformGraph", "Transform")
    return class_labels_of(graph.uri) if graph else []


def model_summary(config: PipelineConfig) -> ModelSummary:
    """Summarise the newest evaluation, blessing and push of this pipeline."""
    evaluation = latest_artifact(config, "ModelEvaluation", "Evaluator")
    blessing = latest_artifact(config, "ModelBlessing", "Evaluator")
    if evaluation is None or blessing is None:
        raise ConfigError(f"no evaluated model in {config.metadata_path}: run `signpipe run`")
    eval_accuracy, per_class = evaluation_metrics(evaluation.uri)
    failures = blessing_failures(evaluation.uri)
    labels = _class_labels(config)
    test = latest_artifact(config, "ModelEvaluation", "TestEvaluator")
    pushed = latest_artifact(config, "PushedModel", "Pusher")
    blessed = blessing.custom_properties["blessed"].int_value == 1
    pushed_path = None
    if blessed and pushed is not None and pushed.custom_properties["pushed"].int_value == 1:
        pushed_path = pushed.custom_properties["pushed_destination"].string_value
    return ModelSummary(
        eval_accuracy=eval_accuracy,
        test_accuracy=evaluation_metrics(test.uri)[0] if test else None,
        per_class={
            labels[class_id] if class_id < len(labels) else str(class_id): values
            for class_id, values in per_class.items()
        },
        blessed=blessed,
        why_not_blessed=failures or ([] if blessed else ["see the Evaluator's validation result"]),
        pushed_path=pushed_path,
        tflite=tflite_report(config),
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


def data_summary(config: PipelineConfig) -> DataSummary:
    """Summarise the newest Examples and data report of this pipeline."""
    examples = latest_artifact(config, "Examples", "ImageFolderExampleGen")
    report = latest_artifact(config, DataReport.TYPE_NAME, "DataValidationReport")
    if examples is None or report is None:
        raise ConfigError(f"no completed run found in {config.metadata_path}: run `signpipe run`")
    ingestion = ingestion_report.read_report(examples.uri)
    return DataSummary(
        counts={split: ingestion["counts"][split] for split in ingestion["split_names"]},
        split_by=ingestion["split_by"],
        groups=ingestion.get("groups", {}),
        quarantined=ingestion["totals"]["quarantined"],
        duplicates_dropped=ingestion["totals"]["duplicates_dropped"],
        anomalies=report.custom_properties["anomalies"].int_value,
        drift=report.custom_properties[DRIFT_PROPERTY].string_value
        if DRIFT_PROPERTY in report.custom_properties
        else "not compared",
        hands=report.custom_properties[HANDS_PROPERTY].string_value
        if HANDS_PROPERTY in report.custom_properties
        else "not recorded (a report from before hand analysis)",
        report_path=os.path.join(report.uri, REPORT_FILE),
    )


def tflite_report(config: PipelineConfig) -> dict | None:
    """The newest TFLite variants report (tflite_report.json), if the run exported any."""
    from signpipe.components.tflite_exporter.component import TFLiteModels
    from signpipe.components.tflite_exporter.executor import REPORT_JSON

    exported = latest_artifact(config, TFLiteModels.TYPE_NAME, "TFLiteExporter")
    if exported is None:
        return None
    with open(os.path.join(exported.uri, REPORT_JSON), encoding="utf-8") as handle:
        return json.load(handle)


def export_schema(config: PipelineConfig, out_path: str) -> str:
    """Copy the newest inferred schema to out_path for curation and return the path."""
    schema = latest_artifact(config, "Schema", "SchemaGen")
    if schema is None:
        raise ConfigError(
            f"no inferred schema in {config.metadata_path}: run `signpipe validate ROOT` first"
        )
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    shutil.copyfile(os.path.join(schema.uri, _SCHEMA_FILE), out_path)
    return out_path
