"""Keras classifier -> TFLite flatbuffers: float32, dynamic range, float16 and full int8."""

import contextlib
import dataclasses
import multiprocessing
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import tensorflow as tf
import tf_keras

from signpipe.components.tflite_exporter.split_data import SplitStream
from signpipe.components.tflite_exporter.tflite_classifier import (
    OUTPUT,
    SIGNATURE,
    TFLiteClassifier,
)
from signpipe.errors import SignpipeError

_OP_NAME = re.compile(
    r"'(tfl?\.\w+)' op|op: '?(\w+)'?|Quantization not yet supported for op: '?(\w+)"
)


# The full-integer variants: calibrated on representative examples, integer-only.
INTEGER_VARIANTS = ("int8", "qat_int8")


class ConversionError(SignpipeError):
    """A variant could not be converted; the message names the op when TFLite does."""


def _save_signature(model: tf_keras.Model, folder: str) -> None:
    """Save the model's one batch-1 signature: its inputs by name in, `probabilities` out.

    Only the variables and this function are saved: saving the Keras model itself traces
    every layer's call for Keras metadata no converter reads (Lite0 on 2 cores: a Keras save
    took 22.7 s with those traces, 5.5 s without).
    """
    names = list(model.input_names)
    specs = [
        tf.TensorSpec([1, *tensor.shape[1:]], tf.float32, name=name)
        for name, tensor in zip(names, model.inputs, strict=True)
    ]

    @tf.function(input_signature=specs)
    def classify_image(*inputs):
        return {OUTPUT: model(dict(zip(names, inputs, strict=True)), training=False)}

    holder = tf.Module()
    holder.variables_to_save = list(model.variables)
    tf.saved_model.save(holder, folder, signatures={SIGNATURE: classify_image})


@contextlib.contextmanager
def saved_signature(model: tf_keras.Model) -> Iterator[str]:
    """A temporary SavedModel of the model's signature, to convert into several variants."""
    with tempfile.TemporaryDirectory(prefix="signpipe-tflite-") as folder:
        _save_signature(model, folder)
        yield folder


def check_representative(variant: str, representative: Mapping[str, np.ndarray]) -> None:
    """Raise ConversionError when an input is 0 in every representative example.

    Calibration would give such an input no range (scale ~1e-8), so any real value would be
    clipped: with no hand found in the sample, landmarks and hand_found are all zeros.
    """
    empty = [name for name, values in representative.items() if not np.any(values)]
    if empty:
        count = len(next(iter(representative.values())))
        raise ConversionError(
            f"{variant}: input(s) {empty} are 0 in all {count} "
            "representative examples, so they cannot be calibrated (landmarks and hand_found "
            "are 0 when MediaPipe found no hand in any of them): draw more with "
            "tflite.representative_images, or use data where hands are found"
        )


def convert(
    saved_model_dir: str,
    variant: str,
    representative: Mapping[str, np.ndarray] | None = None,
) -> bytes:
    """One TFLite flatbuffer from a `saved_signature`.

    int8 variants need representative examples: every model input by name, [N, ...] as
    Transform makes them (image pixels 0-255).
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[SIGNATURE]
    )
    if variant in ("dynamic_range", "float16", *INTEGER_VARIANTS):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant in INTEGER_VARIANTS:
        if representative is None:
            raise ValueError(f"variant {variant} needs representative examples")
        check_representative(variant, representative)

        def calibration():
            for index in range(len(next(iter(representative.values())))):
                yield {
                    name: np.asarray(values[index : index + 1], np.float32)
                    for name, values in representative.items()
                }

        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Every input and the scores are uint8: the image takes raw pixels (scale 1), the
        # landmark features and hand_found are quantized with the scale and zero point in
        # the file (calibrated on the representative examples).
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    try:
        content = converter.convert()
    except Exception as err:  # the converter raises ConverterError, RuntimeError, ...
        raise ConversionError(_explain(variant, err)) from err
    if variant in INTEGER_VARIANTS:
        # The converter leaves an op without an integer kernel in float instead of failing.
        in_float = sorted(set(float_ops(content)))
        if in_float:
            raise ConversionError(
                f"{variant}: no integer kernel for op(s) {', '.join(in_float)}; they would run "
                "in float, so this is not a full-integer model"
            )
    return content


@dataclasses.dataclass(frozen=True)
class Converted:
    """A variant's flatbuffer and, when asked, its top-1 classes for the test examples."""

    content: bytes
    classes: np.ndarray | None = None


def _convert_and_classify(
    saved_model_dir: str,
    variant: str,
    representative: Mapping[str, np.ndarray] | None,
    test: SplitStream | None,
) -> Converted:
    """Convert one variant and, given the test split, classify its examples with it."""
    content = convert(saved_model_dir, variant, representative)
    if test is None:
        return Converted(content)
    with tempfile.NamedTemporaryFile(suffix=".tflite") as handle:
        handle.write(content)
        handle.flush()
        return Converted(content, classify(handle.name, test))


def classify(model_path: str, test: SplitStream) -> np.ndarray:
    """A TFLite model's top-1 classes for every example of a split, read batch by batch."""
    classifier = TFLiteClassifier(model_path)
    classes = [classifier.probabilities(inputs).argmax(axis=1) for inputs, _ in test.batches()]
    return np.concatenate(classes) if classes else np.zeros(0, np.int64)


class PostTrainingConversions:
    """Post-training variants of one `saved_signature`, converted here or in a second process.

    A conversion, and a TFLite model's pass over the test split, runs on one core, so beside
    QAT (which runs in this process) both go to a second, spawned process, which reads the
    test split from its files itself (a SplitStream is a few strings). `result` hands back
    each Converted or raises ConversionError. Use as a context manager: leaving it waits for
    the second process to finish.
    """

    def __init__(
        self,
        saved_model_dir: str,
        variants: Sequence[str],
        representative: Mapping[str, np.ndarray],
        second_process: bool,
        test: SplitStream | None = None,
    ):
        self._saved_model_dir = saved_model_dir
        self._representative = representative
        self._test = test
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[str, Future] = {}
        if second_process and variants:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            self._pending = {
                variant: self._pool.submit(_convert_and_classify, *self._arguments(variant))
                for variant in variants
            }

    def _arguments(self, variant: str) -> tuple:
        # Only integer variants read the examples: the others are not sent to the process.
        needs = variant in INTEGER_VARIANTS
        return (
            self._saved_model_dir,
            variant,
            self._representative if needs else None,
            self._test,
        )

    def result(self, variant: str) -> Converted:
        """The variant's Converted; raises ConversionError when it could not be made."""
        if variant not in self._pending:
            return _convert_and_classify(*self._arguments(variant))
        try:
            return self._pending[variant].result()
        except BrokenProcessPool as err:
            raise ConversionError(
                f"{variant}: the converter process stopped before it finished ({err}); "
                "convert it alone with tflite.variants to see why"
            ) from err

    def __enter__(self) -> "PostTrainingConversions":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


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
