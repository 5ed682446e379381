"""Executor: copy the pipeline's latest blessed model, found in ML Metadata or the serving root."""

import os
from typing import Any

from absl import logging
from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from signpipe.components import model_directory
from signpipe.components.artifacts import mark_baseline

PIPELINE_NAME_KEY = "pipeline_name"
PUSH_ROOT_KEY = "push_root"
METADATA_HOST_KEY = "metadata_host"
METADATA_PORT_KEY = "metadata_port"
# KFP's metadata-grpc-configmap puts these in every step's environment.
HOST_VARIABLE, PORT_VARIABLE = "METADATA_GRPC_SERVICE_HOST", "METADATA_GRPC_SERVICE_PORT"
# What KFP v2's launcher records (backend/src/v2/metadata/client.go, converter.go): a
# `system.Pipeline` context named after the pipeline; TFX types by their schema title; each
# executor-written property a custom property, numbers as doubles.
PIPELINE_CONTEXT_TYPE = "system.Pipeline"
BLESSING_TYPE = "tfx.ModelBlessing"
METADATA_SOURCE, SERVING_ROOT_SOURCE = "ml-metadata", "serving-root"


def metadata_address(host: str, port: int, environ=os.environ) -> tuple[str, int] | None:
    """The ML Metadata gRPC service: the configured one, else KFP's environment, else None."""
    if host:
        return host, int(port)
    if environ.get(HOST_VARIABLE):
        return environ[HOST_VARIABLE], int(environ.get(PORT_VARIABLE) or port)
    return None


def _number(value: metadata_store_pb2.Value) -> float | None:
    kind = value.WhichOneof("value")
    return float(getattr(value, kind)) if kind in ("int_value", "double_value") else None


def _text(value: metadata_store_pb2.Value) -> str:
    return value.string_value if value.WhichOneof("value") == "string_value" else ""


def blessed_model_in_store(store: metadata_store.MetadataStore, pipeline_name: str) -> str | None:
    """The URI of the model the pipeline's latest positive ModelBlessing blessed, if any."""
    context = store.get_context_by_type_and_name(PIPELINE_CONTEXT_TYPE, pipeline_name)
    if context is None:
        return None
    try:
        blessing_type = store.get_artifact_type(BLESSING_TYPE)
    except mlmd_errors.NotFoundError:
        return None
    blessings = [
        artifact
        for artifact in store.get_artifacts_by_context(context.id)
        if artifact.type_id == blessing_type.id
        and artifact.state == metadata_store_pb2.Artifact.LIVE
        and _number(artifact.custom_properties["blessed"]) == 1
    ]
    if not blessings:
        return None
    latest = max(blessings, key=lambda a: (a.create_time_since_epoch, a.id))
    model_id = _text(latest.custom_properties["current_model_id"])
    if model_id.isdigit():
        models = store.get_artifacts_by_id([int(model_id)])
        if models:
            return models[0].uri
    return _text(latest.custom_properties["current_model"]) or None


def newest_pushed_model(push_root: str) -> str | None:
    """The newest version the Pusher published under `push_root`, if any."""
    published = model_directory.versions(push_root)
    return os.path.join(push_root, str(published[-1])) if published else None


def find_baseline(exec_properties: dict[str, Any]) -> tuple[str, str] | None:
    """(source, SavedModel folder) of the latest blessed model, or None on a first run.

    ML Metadata when one is configured or in KFP's environment; the serving root when there
    is none, or when it cannot be reached (said in the log).
    """
    address = metadata_address(
        exec_properties.get(METADATA_HOST_KEY) or "", exec_properties.get(METADATA_PORT_KEY) or 8080
    )
    if address:
        config = metadata_store_pb2.MetadataStoreClientConfig(
            host=address[0], port=address[1], client_timeout_sec=60
        )
        try:
            store = metadata_store.MetadataStore(config)
            model_uri = blessed_model_in_store(store, exec_properties[PIPELINE_NAME_KEY])
        except mlmd_errors.StatusError as err:
            logging.warning("ML Metadata at %s:%d failed (%s): the serving root", *address, err)
        else:
            logging.info("ML Metadata at %s:%d: latest blessed model %s", *address, model_uri)
            if not model_uri:
                return None
            return METADATA_SOURCE, path_utils.serving_model_path(model_uri)
    else:
        logging.info("no ML Metadata service configured or in KFP's environment: the serving root")
    pushed = newest_pushed_model(exec_properties[PUSH_ROOT_KEY])
    return (SERVING_ROOT_SOURCE, pushed) if pushed else None


class Executor(base_executor.BaseExecutor):
    """Copies the baseline into the output Model's serving folder, or marks it as not found."""

    def Do(self, input_dict, output_dict, exec_properties: dict[str, Any]) -> None:
        """Find the latest blessed model and copy it; a first run outputs 'not found'."""
        model = artifact_utils.get_single_instance(output_dict["model"])
        found = find_baseline(exec_properties)
        if found:
            source, folder = found
            logging.info("baseline model from the %s: %s", source, folder)
            model_directory.copy_tree(folder, path_utils.serving_model_dir(model.uri))
        else:
            logging.info("no blessed model yet: the Evaluator checks the accuracy floor only")
        mark_baseline(model, found)
