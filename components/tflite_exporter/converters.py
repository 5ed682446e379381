"""Keras classifier -> TFLite flatbuffers: float32, dynamic range, float16 and full int8."""

import contextlib
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import tensorflow as tf
import tf_keras

from signpipe.components.tflite_exporter.tflite_classifier import INPUT, OUTPUT, SIGNATURE
from signpipe.errors import SignpipeError

_OP_NAME = re.compile(
    r"'(tfl?\.\w+)' op|op: '?(\w+)'?|Quantization not yet supported for op: '?(\w+)"
)


class ConversionError(SignpipeError):
    """A variant could not be converted; the message names the op when TFLite does."""


def _save_signature(model: tf_keras.Model, folder: str) -> None:
    """Save the model's one batch-1 signature: `image` in, `probabilities` out.

    Only the variables and this function are saved: saving the Keras model itself traces
    every layer's call for Keras metadata no converter reads (Lite0 on 2 cores: a Keras save
    took 22.7 s with those traces, 5.5 s without).
    """
    height, width, channels = model.input_shape[1:]

    @tf.function(
        input_signature=[tf.TensorSpec([1, height, width, channels], tf.float32, name=INPUT)]
    )
    def classify_image(image):
        return {OUTPUT: model(image, training=False)}

    holder = tf.Module()
    holder.variables_to_save = list(model.variables)
    tf.saved_model.save(holder, folder, signatures={SIGNATURE: classify_image})


@contextlib.contextmanager
def saved_signature(model: tf_keras.Model) -> Iterator[str]:
    """A temporary SavedModel of the model's signature, to convert into several variants."""
    with tempfile.TemporaryDirectory(prefix="signpipe-tflite-") as folder:
        _save_signature(model, folder)
        yield folder


def convert(
    saved_model_dir: str,
    variant: str,
    representative_images: Callable[[], Iterable[np.ndarray]] | None = None,
) -> bytes:
    """One TFLite flatbuffer from a `saved_signature`; int8 needs images ([H, W, 3], 0-255)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[SIGNATURE]
    )
    if variant in ("dynamic_range", "float16", "int8", "qat_int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant in ("int8", "qat_int8"):
        if representative_images is None:
            raise ValueError(f"variant {variant} needs representative images")

        def calibration():
            for image in representative_images():
                yield {INPUT: image[np.newaxis].astype(np.float32)}

        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Raw pixels in (uint8, scale 1) and a quantized score out: nothing to do on the phone.
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    try:
        content = converter.convert()
    except Exception as err:  # the converter raises ConverterError, RuntimeError, ...
        raise ConversionError(_explain(variant, err)) from err
    if variant in ("int8", "qat_int8"):
        # The converter leaves an op without an integer kernel in float instead of failing.
        in_float = sorted(set(float_ops(content)))
        if in_float:
            raise ConversionError(
                f"{variant}: no integer kernel for op(s) {', '.join(in_float)}; they would run "
                "in float, so this is not a full-integer model"
            )
    return content


def _explain(variant: str, err: Exception) -> str:
    """A one-line reason, naming the op(s) TFLite could not convert."""
    text = str(err)
    ops = sorted({name for match in _OP_NAME.finditer(text) for name in match.groups() if name})
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), repr(err))
    if ops:
        return f"{variant}: no TFLite kernel for op(s) {', '.join(ops)} ({first_line[:300]})"
    return f"{variant}: conversion failed: {first_line[:300]}"


def float_ops(model_content: bytes) -> list[str]:
    """Names of the ops that read or write float tensors (none in a full-integer model)."""
    interpreter = tf.lite.Interpreter(model_content=model_content)
    tensors = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    found = []
    for op in interpreter._get_ops_details():  # the only op listing the Python API offers
        indices = [i for i in [*op["inputs"], *op["outputs"]] if i >= 0]
        if any(np.dtype(tensors[i]["dtype"]).kind == "f" for i in indices):
            found.append(op["op_name"])
    return found
