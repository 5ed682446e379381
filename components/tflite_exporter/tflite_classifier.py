"""Run a signpipe TFLite file on images: the one signature, quantized or not."""

import numpy as np
import tensorflow as tf

from signpipe.errors import ConfigError

SIGNATURE = "classify_image"  # image in, probabilities out
INPUT = "image"  # [1, size, size, 3] pixels 0-255: float32, or uint8 for integer models
OUTPUT = "probabilities"


class TFLiteClassifier:
    """One interpreter on one .tflite file; threads as given, XNNPACK as TFLite applies it."""

    def __init__(self, model_path: str, threads: int = 1):
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
        self._input = runner.get_input_details()[INPUT]
        self._output = runner.get_output_details()[OUTPUT]

    @property
    def image_size(self) -> int:
        """The square side the model takes."""
        return int(self._input["shape"][1])

    @property
    def input_dtype(self) -> np.dtype:
        """float32 for float variants, uint8 for integer ones."""
        return np.dtype(self._input["dtype"])

    def _quantized(self, image: np.ndarray) -> np.ndarray:
        """One image [H, W, 3] in 0-255 as the input tensor wants it, with a batch axis."""
        dtype = self.input_dtype
        if dtype.kind == "f":
            return image[np.newaxis].astype(dtype)
        scale, zero_point = self._input["quantization"]
        info = np.iinfo(dtype)
        quantized = np.round(image / scale + zero_point)
        return np.clip(quantized, info.min, info.max)[np.newaxis].astype(dtype)

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """Run the signature on a prepared input tensor; float probabilities [C]."""
        self.interpreter.set_tensor(self._input["index"], tensor)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self._output["index"])[0]
        if np.dtype(self._output["dtype"]).kind == "f":
            return raw.astype(np.float32)
        scale, zero_point = self._output["quantization"]
        return (raw.astype(np.float32) - zero_point) * scale

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities [N, C] for images [N, H, W, 3] with pixels in 0-255."""
        return np.stack([self.invoke(self._quantized(image)) for image in images])

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The input tensor for one image, for timing invoke() alone."""
        return self._quantized(image)
