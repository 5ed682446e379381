"""Client for a model signpipe pushed to TF Serving: gRPC (PredictionService) or REST."""

import base64
import dataclasses
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from signpipe.errors import ServingError

IMAGE_SIGNATURE = "serving_images"
IMAGE_INPUT = "image_bytes"
OUTPUTS = ("label", "class_index", "confidence", "probabilities", "classes")


class InputRejected(Exception):
    """The server refused the inputs themselves (e.g. bytes it cannot decode as an image)."""


class _Unavailable(Exception):
    """The server cannot be reached or is not ready yet: worth another try."""


@dataclasses.dataclass
class ServingOptions:
    """Where the model is served and how hard to try."""

    address: str  # host:port of the gRPC (default 8500) or REST (default 8501) endpoint
    model_name: str = "signpipe"
    version: int | None = None  # None: the newest version the server serves
    rest: bool = False  # False: gRPC
    timeout: float = 10.0  # seconds per request
    retries: int = 3  # further attempts when the server is unavailable
    backoff: float = 0.5  # seconds before the first retry, doubled each time
    batch_size: int = 32  # images per request


class ServingClient:
    """Sends encoded images to TF Serving and returns one output row per image."""

    def __init__(self, options: ServingOptions):
        """Open a channel (gRPC) or prepare the URL (REST); nothing is sent yet."""
        self.options = options
        self._send: Callable[[Sequence[bytes]], list[dict[str, Any]]]
        self._send = self._rest if options.rest else self._grpc_sender()

    @property
    def model(self) -> str:
        """The model (and version) as error messages name it."""
        version = self.options.version
        return self.options.model_name + (f" version {version}" if version else "")

    def predict(self, images: Sequence[bytes]) -> list[dict[str, Any]]:
        """Output rows (label, class_index, confidence, probabilities, classes), in order.

        Raises InputRejected when the server refuses the batch's content and ServingError
        when it cannot answer at all (after retries when it is unavailable).
        """
        rows = []
        size = max(1, self.options.batch_size)
        for start in range(0, len(images), size):
            rows += self._with_retries(list(images[start : start + size]))
        return rows

    def close(self) -> None:
        """Close the gRPC channel."""
        channel = getattr(self, "_channel", None)
        if channel is not None:
            channel.close()

    def __enter__(self) -> "ServingClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _with_retries(self, batch: list[bytes]) -> list[dict[str, Any]]:
        delay, attempts = self.options.backoff, 0
        while True:
            attempts += 1
            try:
                return self._send(batch)
            except _Unavailable as err:
                if attempts > self.options.retries:
                    transport = "REST" if self.options.rest else "gRPC"
                    raise ServingError(
                        f"server {self.options.address} is unavailable for model {self.model} "
                        f"after {attempts} attempt(s): {err}. Is TF Serving running there, "
                        f"and is this its {transport} port?"
                    ) from None
            time.sleep(delay)
            delay *= 2

    def _grpc_sender(self) -> Callable[[Sequence[bytes]], list[dict[str, Any]]]:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        self._channel = grpc.insecure_channel(
            self.options.address,
            options=[
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
            ],
        )
        stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

        def send(batch: Sequence[bytes]) -> list[dict[str, Any]]:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = self.options.model_name
            request.model_spec.signature_name = IMAGE_SIGNATURE
            if self.options.version is not None:
                request.model_spec.version.value = self.options.version
            request.inputs[IMAGE_INPUT].CopyFrom(tf.make_tensor_proto(list(batch), tf.string))
            try:
                response = stub.Predict(request, timeout=self.options.timeout)
            except grpc.RpcError as err:
                raise self._grpc_error(err) from None
            columns = {
                name: tf.make_ndarray(response.outputs[name]).tolist()
                for name in OUTPUTS
                if name in response.outputs
            }
            return _rows(columns, len(batch))

        return send

    def _grpc_error(self, err: Any) -> Exception:
        import grpc

        code, details = err.code(), err.details()
        if code == grpc.StatusCode.UNAVAILABLE:
            return _Unavailable(details)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return InputRejected(details)
        return self._error(code.name, details)

    def _rest(self, batch: Sequence[bytes]) -> list[dict[str, Any]]:
        options = self.options
        version = f"/versions/{options.version}" if options.version is not None else ""
        url = f"http://{options.address}/v1/models/{options.model_name}{version}:predict"
        body = json.dumps(
            {
                "signature_name": IMAGE_SIGNATURE,
                "instances": [{"b64": base64.b64encode(image).decode()} for image in batch],
            }
        ).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=options.timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as err:
            message = _rest_error(err)
            if err.code == 400:
                raise InputRejected(message) from None
            if err.code in (502, 503, 504):
                raise _Unavailable(f"HTTP {err.code}: {message}") from None
            raise self._error(f"HTTP {err.code}", message) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, TimeoutError):  # as gRPC's DEADLINE_EXCEEDED: not retried
                raise self._error(
                    "DEADLINE_EXCEEDED", f"no answer within {options.timeout:g} s"
                ) from None
            raise _Unavailable(str(reason)) from None
        predictions = payload.get("predictions")
        if not isinstance(predictions, list) or len(predictions) != len(batch):
            got = f"{payload!r:.200}"
            raise self._error("bad response", f"expected {len(batch)} predictions, got {got}")
        return [{name: row[name] for name in OUTPUTS if name in row} for row in predictions]

    def _error(self, code: str, details: str) -> ServingError:
        hint = ""
        if code in ("NOT_FOUND", "HTTP 404"):
            hint = (
                " Check the model name and version: the server's models.config lists the "
                "models, and only the newest serving.served_versions versions are served."
            )
        return ServingError(
            f"server {self.options.address} could not answer for model {self.model}: "
            f"{code}: {details}.{hint}"
        )


def _rest_error(err: Any) -> str:
    """The `error` field TF Serving puts in a failed REST response, else the body."""
    body = err.read().decode(errors="replace")
    try:
        return str(json.loads(body).get("error", body))
    except (ValueError, AttributeError):
        return body or str(err.reason)


def _rows(columns: dict[str, list[Any]], count: int) -> list[dict[str, Any]]:
    """Column outputs (one list per output name) to one dict per image."""
    rows = []
    for index in range(count):
        row = {name: values[index] for name, values in columns.items()}
        for name in ("label", "classes"):
            if name in row:
                row[name] = _text(row[name])
        rows.append(row)
    return rows


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [_text(item) for item in value]
    return value
