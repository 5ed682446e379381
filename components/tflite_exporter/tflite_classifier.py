"""Run a signpipe TFLite file: the one signature, its named inputs, quantized or not."""

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from signpipe.errors import ConfigError
from signpipe.models import features

SIGNATURE = "classify_image"  # the model's inputs by name in, probabilities out
OUTPUT = "probabilities"
# Every input takes one example (batch 1): float32 in float variants, uint8 in integer ones.
_INPUT_ORDER = features.MODEL_INPUTS["both"]


class TFLiteClassifier:
    """One interpreter on one .tflite file; threads as given, XNNPACK as TFLite applies it."""

    def __init__(self, model_path: str, threads: int = 1):
        self.path = model_path
        try:
            self.interpreter = tf.lite.Interpreter(model_path=model_path, num_threads=threads)
        except ValueError as err:
            raise ConfigError(f"{model_path} is not a TFLite model: {err}") from None
        signatures = self.interpreter.get_signature_list()
        if SIGNATURE not in signatures:
            raise ConfigError(
                f"{model_path} has no '{SIGNATURE}' signature (it has {sorted(signatures)}): "
                "use a file the signpipe TFLite exporter wrote"
            )
        # The signature runner's __call__ re-allocates every tensor on each call (and XNNPACK
        # re-prepares): allocate once and invoke the interpreter directly instead.
        self.interpreter.allocate_tensors()
        runner = self.interpreter.get_signature_runner(SIGNATURE)
        self._inputs = runner.get_input_details()
        self._output = runner.get_output_details()[OUTPUT]

    @property
    def input_names(self) -> tuple[str, ...]:
        """The signature's inputs, in the order of features.MODEL_INPUTS."""
        known = tuple(name for name in _INPUT_ORDER if name in self._inputs)
        return known + tuple(sorted(set(self._inputs) - set(known)))

    @property
    def image_size(self) -> int | None:
        """The square side of the image input; None when the model takes no image."""
        image = self._inputs.get(features.IMAGE_FEATURE)
        return None if image is None else int(image["shape"][1])

    def input_details(self) -> dict[str, dict]:
        """Per input: shape of one example, dtype, and scale / zero point (0, 0 when float)."""
        details = {}
        for name in self.input_names:
            detail = self._inputs[name]
            scale, zero_point = detail["quantization"]
            details[name] = {
                "shape": [int(v) for v in detail["shape"][1:]],
                "dtype": np.dtype(detail["dtype"]).name,
                "scale": float(scale),
                "zero_point": int(zero_point),
            }
        return details

    def _tensor(self, name: str, value: np.ndarray) -> np.ndarray:
        """One example of one input as its tensor wants it: batch axis, quantized if integer."""
        detail = self._inputs[name]
        dtype = np.dtype(detail["dtype"])
        value = np.asarray(value, dtype=np.float32)[np.newaxis]
        if dtype.kind == "f":
            return value.astype(dtype)
        scale, zero_point = detail["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(value / scale + zero_point), info.min, info.max).astype(dtype)

    def _check(self, inputs: Mapping[str, np.ndarray], batched: bool) -> None:
        """Every input present with the signature's shape; other keys are ignored."""
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise ConfigError(
                f"{self.path} takes inputs {list(self.input_names)}; {missing} not given "
                f"(given: {sorted(inputs)})"
            )
        for name in self.input_names:
            want = tuple(int(v) for v in self._inputs[name]["shape"][1:])
            got = np.shape(inputs[name])[1:] if batched else np.shape(inputs[name])
            if tuple(got) != want:
                batch = "[N, ...] " if batched else ""
                raise ConfigError(
                    f"{self.path}: input '{name}' must be {batch}{list(want)} per example, "
                    f"got shape {list(np.shape(inputs[name]))}"
                )

    def prepare(self, example: Mapping[str, np.ndarray]) -> list[tuple[int, np.ndarray]]:
        """The input tensors for one example (arrays without a batch axis), for invoke()."""
        self._check(example, batched=False)
        return [
            (self._inputs[name]["index"], self._tensor(name, example[name]))
            for name in self.input_names
        ]

    def invoke(self, prepared: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """Run the signature on prepared input tensors; float probabilities [C]."""
        for index, tensor in prepared:
            self.interpreter.set_tensor(index, tensor)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self._output["index"])[0]
        if np.dtype(self._output["dtype"]).kind == "f":
            return raw.astype(np.float32)
        scale, zero_point = self._output["quantization"]
        return (raw.astype(np.float32) - zero_point) * scale

    def probabilities(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Class probabilities [N, C] for inputs keyed by transformed feature name, each [N, ...].

        Values as Transform makes them (image pixels 0-255, landmark features, hand_found
        0 or 1); integer models get them quantized with each input's scale and zero point.
        """
        self._check(inputs, batched=True)
        counts = {name: len(inputs[name]) for name in self.input_names}
        if len(set(counts.values())) != 1:
            raise ConfigError(
                f"{self.path}: the inputs hold different numbers of examples {counts}"
            )
        rows = [
            self.invoke(self.prepare({name: inputs[name][i] for name in self.input_names}))
            for i in range(next(iter(counts.values())))
        ]
        classes = int(self._output["shape"][-1])
        return np.stack(rows) if rows else np.zeros((0, classes), np.float32)
