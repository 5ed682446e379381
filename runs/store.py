"""The pipeline's ML Metadata store: opening it, its steps' executions and their artifacts."""

import dataclasses
import json
import os
from typing import Any

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata
from tfx.utils import proto_utils

from signpipe.pipeline.configs import PipelineConfig


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """One component's execution in one run: its state, time, properties and outputs."""

    execution_id: int
    component: str
    run_id: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, ...
    seconds: float
    properties: dict[str, Any] = dataclasses.field(default_factory=dict)  # execution properties
    outputs: dict[str, list[metadata_store_pb2.Artifact]] = dataclasses.field(
        default_factory=dict
    )  # output key -> artifacts


def open_store(config: PipelineConfig, read_only: bool = False) -> metadata_store.MetadataStore:
    """A connection to the pipeline's SQLite ML Metadata store."""
    connection = metadata.sqlite_metadata_connection_config(config.metadata_path)
    if read_only:  # never races the run that is creating the store's tables
        connection.sqlite.connection_mode = connection.sqlite.READONLY
    return metadata_store.MetadataStore(connection)


def step_record(
    execution: metadata_store_pb2.Execution,
    component: str,
    run_id: str,
    outputs: dict[str, list[metadata_store_pb2.Artifact]] | None = None,
) -> StepRecord:
    """The record of one execution of a component; properties and outputs when read."""
    elapsed = execution.last_update_time_since_epoch - execution.create_time_since_epoch
    return StepRecord(
        execution_id=execution.id,
        component=component,
        run_id=run_id,
        state=metadata_store_pb2.Execution.State.Name(execution.last_known_state),
        seconds=elapsed / 1000.0,
        properties={
            key: _value(value) for key, value in sorted(execution.custom_properties.items())
        },
        outputs=outputs or {},
    )


def steps_after(
    config: PipelineConfig,
    after_id: int = 0,
    store: metadata_store.MetadataStore | None = None,
) -> list[StepRecord]:
    """Component executions in the store with an id above after_id, oldest first (no outputs)."""
    if store is None:
        if not os.path.exists(config.metadata_path):
            return []
        store = open_store(config)
    context_types = {t.id: t.name for t in store.get_context_types()}
    steps = []
    newer = metadata_store.ListOptions(filter_query=f"id > {after_id}")
    for execution in sorted(store.get_executions(list_options=newer), key=lambda e: e.id):
        names = {
            context_types[c.type_id]: c.name for c in store.get_contexts_by_execution(execution.id)
        }
        component = names.get("node", "").rpartition(".")[2]
        steps.append(step_record(execution, component, names.get("pipeline_run", "")))
    return steps


def outputs_by_execution(store, execution_ids: list[int]) -> dict[int, dict[str, list]]:
    """{execution id: {output key: [artifacts]}} from the store's OUTPUT events."""
    events = [
        event
        for event in store.get_events_by_execution_ids(execution_ids)
        if event.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    ]
    artifacts = {a.id: a for a in store.get_artifacts_by_id({e.artifact_id for e in events})}
    outputs: dict[int, dict[str, list]] = {}
    for event in sorted(events, key=lambda e: e.artifact_id):
        key = event.path.steps[0].key if event.path.steps else "output"
        outputs.setdefault(event.execution_id, {}).setdefault(key, []).append(
            artifacts[event.artifact_id]
        )
    return outputs


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


def _value(value: metadata_store_pb2.Value) -> Any:
    kind = value.WhichOneof("value")
    if kind == "proto_value":
        return str(value.proto_value)
    if kind == "struct_value":
        return json.loads(proto_utils.proto_to_json(value.struct_value))
    return getattr(value, kind) if kind else None
