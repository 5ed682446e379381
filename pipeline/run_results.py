"""Read what the latest run produced from the ML Metadata store."""

import dataclasses
import os
import shutil

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from signpipe.components.data_validation_report.component import DataReport
from signpipe.components.data_validation_report.executor import REPORT_FILE
from signpipe.components.image_folder_example_gen import ingestion_report
from signpipe.errors import ConfigError
from signpipe.pipeline.configs import PipelineConfig

_SCHEMA_FILE = "schema.pbtxt"


@dataclasses.dataclass(frozen=True)
class ComponentExecution:
    """One component's execution in one pipeline run."""

    component: str
    run_id: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, ...
    seconds: float


def _store(config: PipelineConfig) -> metadata_store.MetadataStore:
    connection = metadata.sqlite_metadata_connection_config(config.metadata_path)
    return metadata_store.MetadataStore(connection)


def component_executions(config: PipelineConfig) -> list[ComponentExecution]:
    """Every component execution in the store, oldest first."""
    if not os.path.exists(config.metadata_path):
        return []
    store = _store(config)
    context_types = {t.id: t.name for t in store.get_context_types()}
    executions = []
    for execution in sorted(store.get_executions(), key=lambda e: e.id):
        names = {
            context_types[c.type_id]: c.name for c in store.get_contexts_by_execution(execution.id)
        }
        elapsed = execution.last_update_time_since_epoch - execution.create_time_since_epoch
        executions.append(
            ComponentExecution(
                component=names.get("node", "").rpartition(".")[2],
                run_id=names.get("pipeline_run", ""),
                state=metadata_store_pb2.Execution.State.Name(execution.last_known_state),
                seconds=elapsed / 1000.0,
            )
        )
    return executions


def latest_artifact(config: PipelineConfig, type_name: str) -> metadata_store_pb2.Artifact | None:
    """The newest live artifact of a type in this pipeline's store, or None."""
    if not os.path.exists(config.metadata_path):
        return None
    live = [
        artifact
        for artifact in _store(config).get_artifacts_by_type(type_name)
        if artifact.state == metadata_store_pb2.Artifact.LIVE
    ]
    return max(live, key=lambda artifact: artifact.id, default=None)


@dataclasses.dataclass
class DataSummary:
    """What the data half of the latest run found."""

    counts: dict[str, dict[str, int]]
    quarantined: int
    duplicates_dropped: int
    anomalies: int
    report_path: str

    def describe(self) -> str:
        """Human-readable lines for the end of a run."""
        lines = ["Data:"]
        for split, per_label in self.counts.items():
            lines.append(
                f"  {split:>5}: {sum(per_label.values())} images in {len(per_label)} classes"
            )
        lines += [
            f"  quarantined files: {self.quarantined}, duplicates dropped: "
            f"{self.duplicates_dropped}, anomalies: {self.anomalies}",
            f"Data validation report: {self.report_path}",
        ]
        return "\n".join(lines)


def data_summary(config: PipelineConfig) -> DataSummary:
    """Summarise the newest Examples and data report of this pipeline."""
    examples = latest_artifact(config, "Examples")
    report = latest_artifact(config, DataReport.TYPE_NAME)
    if examples is None or report is None:
        raise ConfigError(f"no completed run found in {config.metadata_path}: run `signpipe run`")
    ingestion = ingestion_report.read_report(examples.uri)
    return DataSummary(
        counts={split: ingestion["counts"][split] for split in ingestion["split_names"]},
        quarantined=ingestion["totals"]["quarantined"],
        duplicates_dropped=ingestion["totals"]["duplicates_dropped"],
        anomalies=report.custom_properties["anomalies"].int_value,
        report_path=os.path.join(report.uri, REPORT_FILE),
    )


def export_schema(config: PipelineConfig, out_path: str) -> str:
    """Copy the newest inferred schema to out_path for curation and return the path."""
    schema = latest_artifact(config, "Schema")
    if schema is None:
        raise ConfigError(
            f"no inferred schema in {config.metadata_path}: run `signpipe validate ROOT` first"
        )
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    shutil.copyfile(os.path.join(schema.uri, _SCHEMA_FILE), out_path)
    return out_path
