"""An in-process stand-in for TF Serving, for tests: a test double of its protocol.

It implements PredictionService.Predict and GetModelMetadata (signature_def) over gRPC
(from the tensorflow-serving-api protos) and the REST predict, metadata and model-status
APIs, and serves what `models.config` in a serving
root lists: the newest `num_versions` versions of each model, re-read on every request
as TF Serving's config poller would. Models are the pushed SavedModels, executed here.
"""

import base64
import json
import re
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from signpipe.components import model_directory

_REST_PREDICT = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")
_REST_STATUS = re.compile(r"^/v1/models/([^/:]+)$")
_REST_METADATA = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?/metadata$")


class ServingFailure(Exception):
    """A request that fails with a TF Serving status code."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


_HTTP_STATUS = {  # TF Serving's http_server.cc mapping
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.UNAVAILABLE: 503,
}


class ModelRepository:
    """Resolves (model, version) through models.config and runs SavedModel signatures."""

    def __init__(self, serving_root: str, mount: str = "/models"):
        self.serving_root = serving_root
        self.mount = mount
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _entry(self, name: str) -> Any:
        """The model's entry in models.config, or None when it is not listed."""
        config_path = Path(self.serving_root) / model_directory.MODELS_CONFIG_FILE
        if not config_path.exists():
            return None
        config = model_directory.read_models_config(str(config_path))
        return next((e for e in config.model_config_list.config if e.name == name), None)

    def served_versions(self, name: str) -> list[int]:
        """The versions of a model this server would serve now."""
        entry = self._entry(name)
        if entry is None:
            return []
        keep = entry.model_version_policy.latest.num_versions or 1
        return model_directory.versions(self._local(entry.base_path))[-keep:]

    def _resolve(self, name: str, version: int | None) -> int:
        """The served version a request names (the newest for None), or NOT_FOUND."""
        served = self.served_versions(name)
        wanted = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
        if not served or (version is not None and version not in served):
            raise ServingFailure(
                grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {wanted}"
            )
        return served[-1] if version is None else version

    def signature_defs(
        self, name: str, version: int | None
    ) -> tuple[int, get_model_metadata_pb2.SignatureDefMap]:
        """The served version's SignatureDefs, as GetModelMetadata returns them."""
        version = self._resolve(name, version)
        path = Path(self._local(self._entry(name).base_path)) / str(version) / "saved_model.pb"
        saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
        defs = get_model_metadata_pb2.SignatureDefMap()
        for key, value in saved_model.meta_graphs[0].signature_def.items():
            defs.signature_def[key].CopyFrom(value)
        return version, defs

    def run(
        self, name: str, version: int | None, signature: str, inputs: dict[str, Any] | list
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Run one signature of a served version; raise ServingFailure as TF Serving would.

        `inputs` is one array per input name, or REST row-format instances.
        """
        version = self._resolve(name, version)
        signatures = self._model(name, version).signatures
        signature = signature or "serving_default"
        if signature not in signatures:
            raise ServingFailure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f'Serving signature name: "{signature}" not found in signature def',
            )
        function = signatures[signature]
        specs = function.structured_input_signature[1]
        if isinstance(inputs, list):
            inputs = _columns(inputs, specs)
        try:
            outputs = function(**{key: tf.constant(value) for key, value in inputs.items()})
        except (tf.errors.InvalidArgumentError, TypeError, ValueError) as err:
            message = getattr(err, "message", str(err)).splitlines()[0]
            raise ServingFailure(grpc.StatusCode.INVALID_ARGUMENT, message) from None
        return version, {key: value.numpy() for key, value in outputs.items()}

    def _local(self, base_path: str) -> str:
        if base_path.startswith(self.mount + "/"):
            return str(Path(self.serving_root) / base_path[len(self.mount) + 1 :])
        return base_path

    def _model(self, name: str, version: int) -> Any:
        path = str(Path(self._local(self._entry(name).base_path)) / str(version))
        with self._lock:
            if path not in self._loaded:
                self._loaded[path] = tf.saved_model.load(path)
            return self._loaded[path]


class FakeTFServing:
    """gRPC and REST endpoints on free local ports; failures and delays on demand."""

    def __init__(self, serving_root: str, mount: str = "/models"):
        self.repository = ModelRepository(serving_root, mount)
        self.requests = 0
        self._unavailable = 0
        self._delay = 0.0
        self._lock = threading.Lock()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _PredictionService(self), self._grpc
        )
        self.grpc_address = f"127.0.0.1:{self._grpc.add_insecure_port('127.0.0.1:0')}"
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _rest_handler(self))
        self.rest_address = f"127.0.0.1:{self._http.server_address[1]}"

    def fail_next(self, count: int) -> None:
        """Answer the next `count` requests with UNAVAILABLE (HTTP 503), as a starting server."""
        with self._lock:
            self._unavailable = count

    def delay(self, seconds: float) -> None:
        """Answer every request `seconds` late (0: on time), as an overloaded server."""
        self._delay = seconds

    def handle(
        self, name: str, version: int | None, signature: str, inputs: dict[str, Any] | list
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Count the request, fail it if asked to, else run it."""
        self._admit()
        return self.repository.run(name, version, signature, inputs)

    def metadata(
        self, name: str, version: int | None
    ) -> tuple[int, get_model_metadata_pb2.SignatureDefMap]:
        """Count the request, fail it if asked to, else give the version's SignatureDefs."""
        self._admit()
        return self.repository.signature_defs(name, version)

    def _admit(self) -> None:
        with self._lock:
            self.requests += 1
            if self._unavailable:
                self._unavailable -= 1
                raise ServingFailure(grpc.StatusCode.UNAVAILABLE, "the server is starting")
        time.sleep(self._delay)

    def __enter__(self) -> "FakeTFServing":
        self._grpc.start()
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._grpc.stop(grace=None)
        self._http.shutdown()
        self._http.server_close()


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, server: FakeTFServing):
        self.server = server

    def Predict(self, request, context):
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        try:
            served, outputs = self.server.handle(spec.name, version, spec.signature_name, inputs)
        except ServingFailure as failure:
            context.abort(failure.code, str(failure))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = spec.name
        response.model_spec.version.value = served
        response.model_spec.signature_name = spec.signature_name or "serving_default"
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):
        spec = request.model_spec
        if list(request.metadata_field) != ["signature_def"]:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "Metadata field signature_def is the only one"
            )
        version = spec.version.value if spec.HasField("version") else None
        try:
            served, defs = self.server.metadata(spec.name, version)
        except ServingFailure as failure:
            context.abort(failure.code, str(failure))
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = spec.name
        response.model_spec.version.value = served
        response.metadata["signature_def"].Pack(defs)
        return response


def _columns(instances: list, specs: dict[str, tf.TensorSpec]) -> dict[str, np.ndarray]:
    """REST row format to one array per input, of the signature's dtypes (JSON numbers are
    untyped); a bare value is the signature's only input."""
    if not (instances and isinstance(instances[0], dict)):
        if len(specs) != 1:
            raise ServingFailure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"instances must be objects naming the inputs {sorted(specs)}",
            )
        instances = [{next(iter(specs)): value} for value in instances]
    unknown = set(instances[0]) - set(specs)
    if unknown:
        raise ServingFailure(
            grpc.StatusCode.INVALID_ARGUMENT, f"inputs {sorted(unknown)} are not in the signature"
        )
    columns = {}
    for key in instances[0]:
        dtype = object if specs[key].dtype == tf.string else specs[key].dtype.as_numpy_dtype
        columns[key] = np.array([row[key] for row in instances], dtype=dtype)
    return columns


def _decode_instance(value: Any) -> Any:
    """{"b64": ...} to bytes wherever it is: a bare instance, or a named input of one."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, dict):
        return {key: _decode_instance(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_instance(item) for item in value]
    return value


def _json_value(name: str, value: Any) -> Any:
    """Numpy output to JSON as TF Serving writes it: `*_bytes` outputs as base64."""
    if isinstance(value, np.ndarray):
        return [_json_value(name, item) for item in value]
    if isinstance(value, bytes):
        if name.endswith("_bytes"):
            return {"b64": base64.b64encode(value).decode()}
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def _rest_handler(server: FakeTFServing) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            metadata = _REST_METADATA.match(self.path)
            if metadata:
                self._metadata(metadata.group(1), metadata.group(2))
                return
            match = _REST_STATUS.match(self.path)
            versions = server.repository.served_versions(match.group(1)) if match else []
            if not versions:
                self._reply(404, {"error": f"Servable not found for request: {self.path}"})
                return
            status = [{"version": str(v), "state": "AVAILABLE"} for v in reversed(versions)]
            self._reply(200, {"model_version_status": status})

        def _metadata(self, name: str, version: str | None) -> None:
            try:
                served, defs = server.metadata(name, int(version) if version else None)
            except ServingFailure as failure:
                self._reply(_HTTP_STATUS.get(failure.code, 500), {"error": str(failure)})
                return
            signature_def = json_format.MessageToDict(defs, preserving_proto_field_name=True)
            spec = {"name": name, "signature_name": "", "version": str(served)}
            self._reply(200, {"model_spec": spec, "metadata": {"signature_def": signature_def}})

        def do_POST(self) -> None:
            match = _REST_PREDICT.match(self.path)
            if not match:
                self._reply(404, {"error": f"Malformed request: POST {self.path}"})
                return
            try:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                instances = [_decode_instance(item) for item in request["instances"]]
            except (ValueError, KeyError, TypeError) as err:
                self._reply(400, {"error": f"JSON Parse error: {err}"})
                return
            version = int(match.group(2)) if match.group(2) else None
            try:
                _, outputs = server.handle(
                    match.group(1), version, request.get("signature_name", ""), instances
                )
            except ServingFailure as failure:
                self._reply(_HTTP_STATUS.get(failure.code, 500), {"error": str(failure)})
                return
            rows = [
                {name: _json_value(name, value[index]) for name, value in outputs.items()}
                for index in range(len(instances))
            ]
            self._reply(200, {"predictions": rows})

    return Handler
