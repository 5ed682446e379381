"""Client for a model signpipe pushed to TF Serving: gRPC (PredictionService) or REST.

TF Serving cannot run MediaPipe, so this client does: for a model with the `serving_hands`
signature it finds the hand in each image and sends the landmarks with the image bytes.
A model without it gets the image bytes alone (`serving_images`: the whole frame).
"""

import base64
import dataclasses
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from signpipe.components.image_folder_example_gen.hand_analysis import (
    NO_HAND,
    HandAnalyzer,
    HandFacts,
)
from signpipe.errors import ServingError
from signpipe.models import features
from signpipe.pipeline.configs import DataConfig

HAND_FOUND = "hand_found"  # added to each output row: True, False, or None without serving_hands
DEFAULT_HAND_MIN_CONFIDENCE = DataConfig.hand_min_confidence  # MediaPipe, as at ingestion
_T = TypeVar("_T")


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
    hand_min_confidence: float = DEFAULT_HAND_MIN_CONFIDENCE


def find_hand(analyzer: HandAnalyzer, encoded: bytes) -> HandFacts:
    """What MediaPipe finds in encoded image bytes; NO_HAND when they do not decode (the
    model then rejects the image itself)."""
    from signpipe.components.image_folder_example_gen.image_facts import (
        BadImageError,
        open_image,
    )

    try:
        rgb = np.asarray(open_image(encoded).convert("RGB"))
    except BadImageError:
        return NO_HAND
    return analyzer.analyze(rgb)


def hand_request(images: Sequence[bytes], hands: Sequence[HandFacts]) -> dict[str, np.ndarray]:
    """The serving_hands inputs, one array per input name: the image bytes and the hand features."""
    if len(images) != len(hands):
        raise ValueError(f"{len(images)} images but {len(hands)} hand analyses")
    return {
        features.IMAGE_BYTES_INPUT: np.array(list(images), dtype=object),
        features.HAND_FOUND_KEY: np.array([int(h.found) for h in hands], np.int64),
        features.HAND_LANDMARKS_KEY: np.array([h.landmarks for h in hands], np.float32).reshape(
            -1, features.LANDMARK_VALUES
        ),
        features.HANDEDNESS_KEY: np.array([h.handedness.encode() for h in hands], dtype=object),
    }


class ServingClient:
    """Sends images (and, for serving_hands, their hands) to TF Serving; one row per image."""

    def __init__(self, options: ServingOptions):
        """Open a channel (gRPC) or prepare the URL (REST); nothing is sent yet."""
        self.options = options
        self._signature: str | None = None
        self._hands: HandAnalyzer | None = None
        self._send: Callable[[Sequence[bytes], Sequence[HandFacts] | None], list[dict[str, Any]]]
        self._signatures: Callable[[], set[str]]
        if options.rest:
            self._send, self._signatures = self._rest_predict, self._rest_signatures
        else:
            self._send, self._signatures = self._grpc_calls()

    @property
    def model(self) -> str:
        """The model (and version) as error messages name it."""
        version = self.options.version
        return self.options.model_name + (f" version {version}" if version else "")

    @property
    def signature(self) -> str:
        """serving_hands when the served model has it, else serving_images (asked once)."""
        if self._signature is None:
            served = self._with_retries(self._signatures)
            if features.HANDS_SIGNATURE in served:
                self._signature = features.HANDS_SIGNATURE
            elif features.IMAGE_SIGNATURE in served:
                self._signature = features.IMAGE_SIGNATURE
            else:
                raise ServingError(
                    f"model {self.model} on {self.options.address} has neither "
                    f"'{features.HANDS_SIGNATURE}' nor '{features.IMAGE_SIGNATURE}' "
                    f"(it has {sorted(served)}): "
                    "serve a model exported by signpipe's Trainer"
                )
        return self._signature

    @property
    def hand_analyzer(self) -> HandAnalyzer | None:
        """MediaPipe Hands for a model with serving_hands; None for one without it."""
        if self._hands is None and self.signature == features.HANDS_SIGNATURE:
            self._hands = HandAnalyzer(self.options.hand_min_confidence)
        return self._hands

    def predict(
        self, images: Sequence[bytes], hands: Sequence[HandFacts] | None = None
    ) -> list[dict[str, Any]]:
        """Output rows (label, class_index, confidence, probabilities, classes, hand_found).

        `hands`: what MediaPipe found in each image, when the caller already knows; else
        this client finds them for a serving_hands model. A model without serving_hands
        gets the image bytes alone and hand_found is None. Raises InputRejected when the
        server refuses the batch's content and ServingError when it cannot answer at all
        (after retries when it is unavailable).
        """
        analyzer = self.hand_analyzer
        if analyzer is None:
            hands = None
        elif hands is None:
            hands = [find_hand(analyzer, image) for image in images]
        rows = []
        size = max(1, self.options.batch_size)
        for start in range(0, len(images), size):
            batch = list(images[start : start + size])
            batch_hands = None if hands is None else list(hands[start : start + size])
            rows += self._with_retries(lambda b=batch, h=batch_hands: self._send(b, h))
        return rows

    def close(self) -> None:
        """Close the gRPC channel and MediaPipe."""
        channel = getattr(self, "_channel", None)
        if channel is not None:
            channel.close()
        if self._hands is not None:
            self._hands.close()

    def __enter__(self) -> "ServingClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _with_retries(self, call: Callable[[], _T]) -> _T:
        delay, attempts = self.options.backoff, 0
        while True:
            attempts += 1
            try:
                return call()
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

    def _grpc_calls(self):
        """(predict, signature names) over one gRPC channel."""
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import (
            get_model_metadata_pb2,
            predict_pb2,
            prediction_service_pb2_grpc,
        )

        self._channel = grpc.insecure_channel(
            self.options.address,
            options=[
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
            ],
        )
        stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

        def model_spec(spec) -> None:
            spec.name = self.options.model_name
            if self.options.version is not None:
                spec.version.value = self.options.version

        def send(batch: Sequence[bytes], hands: Sequence[HandFacts] | None):
            request = predict_pb2.PredictRequest()
            model_spec(request.model_spec)
            if hands is None:
                request.model_spec.signature_name = features.IMAGE_SIGNATURE
                inputs = {features.IMAGE_BYTES_INPUT: np.array(list(batch), dtype=object)}
            else:
                request.model_spec.signature_name = features.HANDS_SIGNATURE
                inputs = hand_request(batch, hands)
            for name, values in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
            try:
                response = stub.Predict(request, timeout=self.options.timeout)
            except grpc.RpcError as err:
                raise self._grpc_error(err) from None
            columns = {
                name: tf.make_ndarray(response.outputs[name]).tolist()
                for name in features.SERVING_OUTPUTS
                if name in response.outputs
            }
            return _rows(columns, hands, len(batch))

        def signatures() -> set[str]:
            request = get_model_metadata_pb2.GetModelMetadataRequest()
            model_spec(request.model_spec)
            request.metadata_field.append("signature_def")
            try:
                response = stub.GetModelMetadata(request, timeout=self.options.timeout)
            except grpc.RpcError as err:
                raise self._grpc_error(err) from None
            defs = get_model_metadata_pb2.SignatureDefMap()
            response.metadata["signature_def"].Unpack(defs)
            return set(defs.signature_def)

        return send, signatures

    def _grpc_error(self, err: Any) -> Exception:
        import grpc

        code, details = err.code(), err.details()
        if code == grpc.StatusCode.UNAVAILABLE:
            return _Unavailable(details)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return InputRejected(details)
        return self._error(code.name, details)

    def _url(self, verb: str) -> str:
        options = self.options
        version = f"/versions/{options.version}" if options.version is not None else ""
        return f"http://{options.address}/v1/models/{options.model_name}{version}{verb}"

    def _rest_predict(
        self, batch: Sequence[bytes], hands: Sequence[HandFacts] | None
    ) -> list[dict[str, Any]]:
        if hands is None:
            body = {
                "signature_name": features.IMAGE_SIGNATURE,
                "instances": [{"b64": base64.b64encode(image).decode()} for image in batch],
            }
        else:
            body = {
                "signature_name": features.HANDS_SIGNATURE,
                "instances": rest_instances(batch, hands),
            }
        payload = self._http(self._url(":predict"), json.dumps(body).encode())
        predictions = payload.get("predictions")
        if not isinstance(predictions, list) or len(predictions) != len(batch):
            got = f"{payload!r:.200}"
            raise self._error("bad response", f"expected {len(batch)} predictions, got {got}")
        columns = {
            name: [row[name] for row in predictions]
            for name in features.SERVING_OUTPUTS
            if name in predictions[0]
        }
        return _rows(columns, hands, len(batch))

    def _rest_signatures(self) -> set[str]:
        payload = self._http(self._url("/metadata"), None)
        try:
            return set(payload["metadata"]["signature_def"]["signature_def"])
        except (KeyError, TypeError):
            raise self._error("bad response", f"no signature_def in {payload!r:.200}") from None

    def _http(self, url: str, body: bytes | None) -> dict[str, Any]:
        """POST (with a body) or GET; the JSON answer, or the error TF Serving gave."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = urllib.request.Request(url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout) as response:
                return json.loads(response.read())
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
                    "DEADLINE_EXCEEDED", f"no answer within {self.options.timeout:g} s"
                ) from None
            raise _Unavailable(str(reason)) from None

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


def rest_instances(images: Sequence[bytes], hands: Sequence[HandFacts]) -> list[dict[str, Any]]:
    """serving_hands inputs in TF Serving's REST row format: one object per image."""
    return [
        {
            features.IMAGE_BYTES_INPUT: {"b64": base64.b64encode(image).decode()},
            features.HAND_FOUND_KEY: int(hand.found),
            features.HAND_LANDMARKS_KEY: [float(v) for v in hand.landmarks],
            features.HANDEDNESS_KEY: hand.handedness,
        }
        for image, hand in zip(images, hands, strict=True)
    ]


def _rest_error(err: Any) -> str:
    """The `error` field TF Serving puts in a failed REST response, else the body."""
    body = err.read().decode(errors="replace")
    try:
        return str(json.loads(body).get("error", body))
    except (ValueError, AttributeError):
        return body or str(err.reason)


def _rows(
    columns: dict[str, list[Any]], hands: Sequence[HandFacts] | None, count: int
) -> list[dict[str, Any]]:
    """Column outputs (one list per output name) to one dict per image, with hand_found."""
    rows = []
    for index in range(count):
        row = {name: values[index] for name, values in columns.items()}
        for name in ("label", "classes"):
            if name in row:
                row[name] = _text(row[name])
        row[HAND_FOUND] = None if hands is None else hands[index].found
        rows.append(row)
    return rows


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [_text(item) for item in value]
    return value
