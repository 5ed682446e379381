"""The baseline step of open-source KFP builds: the latest blessed model, from ML Metadata or
the serving root, or a Model marked 'not found' that the Evaluator then ignores."""

import socket
from pathlib import Path

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from signpipe.components.artifacts import (
    BASELINE_FOUND_PROPERTY,
    BASELINE_LOCATION_PROPERTY,
    BASELINE_SOURCE_PROPERTY,
)
from signpipe.components.gated_evaluator.executor import without_missing_baseline
from signpipe.components.latest_blessed_model import executor


def _kfp_store(path: Path) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return metadata_store.MetadataStore(config)


def _record(
    store, pipeline: str, run: str, outputs: list[metadata_store_pb2.Artifact]
) -> list[int]:
    """Record outputs as KFP v2's launcher does: types named by schema title, executor
    metadata as custom properties (numbers as doubles), attributed to the pipeline and run
    contexts (backend/src/v2/metadata/client.go, converter.go)."""
    context_ids = []
    for type_name, name in (("system.Pipeline", pipeline), ("system.PipelineRun", run)):
        type_id = store.put_context_type(metadata_store_pb2.ContextType(name=type_name))
        found = store.get_context_by_type_and_name(type_name, name)
        new = metadata_store_pb2.Context(type_id=type_id, name=name)
        context_ids.append(found.id if found else store.put_contexts([new])[0])
    ids = store.put_artifacts(outputs)
    attributions = [
        metadata_store_pb2.Attribution(artifact_id=artifact, context_id=context)
        for artifact in ids
        for context in context_ids
    ]
    store.put_attributions_and_associations(attributions, [])
    return ids


def _artifact(store, type_name: str, uri: str, **properties) -> metadata_store_pb2.Artifact:
    type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name=type_name))
    artifact = metadata_store_pb2.Artifact(
        type_id=type_id, uri=uri, state=metadata_store_pb2.Artifact.LIVE
    )
    for key, value in properties.items():
        if isinstance(value, str):
            artifact.custom_properties[key].string_value = value
        else:
            artifact.custom_properties[key].double_value = value
    return artifact


def _run(store, pipeline: str, run: str, blessed: bool) -> str:
    """One KFP run's Trainer model and Evaluator blessing; the model's URI."""
    uri = f"gs://root/{pipeline}/{run}/Trainer/model"
    (model_id,) = _record(store, pipeline, run, [_artifact(store, "tfx.Model", uri)])
    blessing = _artifact(
        store,
        "tfx.ModelBlessing",
        f"gs://root/{pipeline}/{run}/Evaluator/blessing",
        blessed=1.0 if blessed else 0.0,
        current_model=uri,
        current_model_id=str(model_id),
        tfx_version="1.16.0",
    )
    _record(store, pipeline, run, [blessing])
    return uri


def test_the_latest_positive_blessing_of_the_same_pipeline_names_the_baseline(tmp_path):
    store = _kfp_store(tmp_path / "mlmd.sqlite")
    assert executor.blessed_model_in_store(store, "signpipe") is None
    first = _run(store, "signpipe", "run-1", blessed=True)
    _run(store, "other-pipeline", "run-1", blessed=True)
    assert executor.blessed_model_in_store(store, "signpipe") == first
    _run(store, "signpipe", "run-2", blessed=False)  # refused: the first stays the baseline
    assert executor.blessed_model_in_store(store, "signpipe") == first
    third = _run(store, "signpipe", "run-3", blessed=True)
    assert executor.blessed_model_in_store(store, "signpipe") == third
    assert executor.blessed_model_in_store(store, "never-ran") is None


def test_the_metadata_service_is_the_configured_one_else_kfps_environment():
    environ = {
        executor.HOST_VARIABLE: "metadata-grpc-service.kubeflow",
        executor.PORT_VARIABLE: "8080",
    }
    assert executor.metadata_address("mlmd.internal", 9090, environ) == ("mlmd.internal", 9090)
    assert executor.metadata_address("", 9090, environ) == ("metadata-grpc-service.kubeflow", 8080)
    assert executor.metadata_address("", 8080, {}) is None


def _pushed(push_root: Path, version: int) -> Path:
    folder = push_root / str(version)
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(f"model {version}".encode())
    return folder


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("metadata", ["none", "unreachable"])
def test_without_a_reachable_store_the_newest_pushed_version_is_copied(tmp_path, metadata):
    push_root = tmp_path / "serving" / "signpipe"
    properties = {
        executor.PIPELINE_NAME_KEY: "signpipe",
        executor.PUSH_ROOT_KEY: str(push_root),
        executor.METADATA_HOST_KEY: "127.0.0.1" if metadata == "unreachable" else "",
        executor.METADATA_PORT_KEY: _closed_port(),
    }
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "first")
    executor.Executor().Do({}, {"model": [model]}, properties)
    assert model.get_int_custom_property(BASELINE_FOUND_PROPERTY) == 0
    assert without_missing_baseline({"model": [1], "baseline_model": [model]}) == {"model": [1]}

    _pushed(push_root, 1700000000)
    newest = _pushed(push_root, 1700000100)
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "second")
    executor.Executor().Do({}, {"model": [model]}, properties)
    copied = Path(model.uri) / "Format-Serving" / "saved_model.pb"
    assert copied.read_bytes() == b"model 1700000100"
    assert (
        model.get_string_custom_property(BASELINE_SOURCE_PROPERTY) == executor.SERVING_ROOT_SOURCE
    )
    assert model.get_string_custom_property(BASELINE_LOCATION_PROPERTY) == str(newest)
    inputs = {"model": [1], "baseline_model": [model]}
    assert without_missing_baseline(inputs) == inputs
