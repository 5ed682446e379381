"""Quantization-aware fine-tuning of the trained classifier with tensorflow-model-optimization."""

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras

# tfmot does not export the layer that quantizes the model input.
from tensorflow_model_optimization.python.core.quantization.keras.quantize_layer import (
    QuantizeLayer,
)

from signpipe.components.tflite_exporter.converters import ConversionError
from signpipe.models import features
from signpipe.models.head import IMAGE_SHARE, LANDMARK_SHARE
from signpipe.models.keras_tracing import skip_autograph_in_keras_libraries
from signpipe.models.landmark_scaling import LANDMARK_STANDARDIZER

_quantize = tfmot.quantization.keras


class OutputQuantizeConfig(_quantize.QuantizeConfig):
    """Fake-quantize only what a weightless layer emits: on a fixed range, or a learned one.

    tfmot has no default config for Rescaling (the image normalisation and the branches'
    shares of the answer: their output ranges are exact and fixed; the landmark
    standardization: a moving-average range) or Multiply (the landmark embedding times
    hand_found, a branch's probabilities times its share: a moving-average range, as
    tfmot's own config for Add). None holds weights, so quantizing what it emits is all
    the integer model needs.
    """

    def __init__(self, low: float | None = None, high: float | None = None):
        self.low, self.high = low, high

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        if self.low is None:
            return [
                _quantize.quantizers.MovingAverageQuantizer(
                    num_bits=8, per_axis=False, symmetric=False, narrow_range=False
                )
            ]
        return [
            _quantize.quantizers.FixedQuantizer(
                num_bits=8, init_min=self.low, init_max=self.high, narrow_range=False
            )
        ]

    def get_config(self):
        return {"low": self.low, "high": self.high}


def _annotate(layer: tf_keras.layers.Layer) -> tf_keras.layers.Layer:
    if layer.name == LANDMARK_STANDARDIZER:  # a Rescaling with a scale per feature
        return _quantize.quantize_annotate_layer(layer, quantize_config=OutputQuantizeConfig())
    if isinstance(layer, tf_keras.layers.Rescaling):
        # The branches' shares rescale hand_found (0 or 1); the image normalisation, pixels.
        top = 1.0 if layer.name in (IMAGE_SHARE, LANDMARK_SHARE) else 255.0
        ends = np.array([0.0, top]) * np.asarray(layer.scale).max() + np.asarray(layer.offset)
        # Widened to hold 0, which quantization represents exactly.
        config = OutputQuantizeConfig(min(float(np.min(ends)), 0.0), max(float(np.max(ends)), 0.0))
        return _quantize.quantize_annotate_layer(layer, quantize_config=config)
    if isinstance(layer, tf_keras.layers.Multiply):
        return _quantize.quantize_annotate_layer(layer, quantize_config=OutputQuantizeConfig())
    return _quantize.quantize_annotate_layer(layer)


def _input_range(name: str, values: np.ndarray) -> tuple[float, float]:
    """The quantization range of a model input: pixels 0-255, else what the data spans.

    Raw pixels go in as uint8 with scale 1; other inputs span their calibration values,
    widened to hold 0 (quantization represents 0 exactly).
    """
    if name == features.IMAGE_FEATURE:
        return 0.0, 255.0
    return min(float(np.min(values)), 0.0), max(float(np.max(values)), 0.0)


def _quantized_input(layer: QuantizeLayer) -> str:
    """The name of the model input a QuantizeLayer quantizes."""
    return layer.input.name.split(":")[0]


def _seed_ranges(
    aware: tf_keras.Model, model: tf_keras.Model, calibration: dict[str, np.ndarray]
) -> None:
    """Start activation ranges where the float model's activations are; inputs as _input_range.

    tfmot starts every range at [-6, 6] and moves it by a slow moving average, so a short
    fine-tune would convert with ranges that clip (project convolutions reach about +-30;
    a confident softmax's logits, more) or waste resolution (ReLU6 outputs, the head's
    Dense ReLUs). Seeded: layer outputs, Dense outputs after their activation, and Dense
    outputs before a softmax.
    """
    targets = []  # (min variable, max variable, float layer, before its activation)
    for layer in aware.layers:
        if isinstance(layer, QuantizeLayer):
            name = _quantized_input(layer)
            low, high = _input_range(name, calibration[name])
            for weight in layer.weights:
                if weight.name.endswith("_min:0"):
                    weight.assign(low)
                elif weight.name.endswith("_max:0"):
                    weight.assign(high)
        elif isinstance(layer, _quantize.QuantizeWrapper):
            found = {w.name.split("/")[-1].split(":")[0]: w for w in layer.weights}
            original = model.get_layer(layer.layer.name)
            for kind in ("output", "post_activation", "pre_activation"):
                before = kind == "pre_activation"
                if f"{kind}_min" in found and (
                    not before or isinstance(original, tf_keras.layers.Dense)
                ):
                    targets.append((found[f"{kind}_min"], found[f"{kind}_max"], original, before))
    if not targets:
        return
    probe = tf_keras.Model(
        model.inputs, [layer.input if before else layer.output for _, _, layer, before in targets]
    )

    @tf.function
    def extremes(batch):
        outputs = tf.nest.flatten(probe(batch, training=False))  # one output is no list
        values = [
            _before_activation(layer, out) if before else out
            for out, (_, _, layer, before) in zip(outputs, targets, strict=True)
        ]
        return [tf.reduce_min(v) for v in values], [tf.reduce_max(v) for v in values]

    # Batch by batch: every layer's activations for all images at once took 15 GB at 224 px.
    lows, highs = np.zeros(len(targets)), np.zeros(len(targets))
    for start in range(0, _count(calibration), 16):
        batch_lows, batch_highs = extremes(_rows(calibration, start, start + 16))
        lows = np.minimum(lows, [float(v) for v in batch_lows])
        highs = np.maximum(highs, [float(v) for v in batch_highs])
    for (low, high, _, _), seen_low, seen_high in zip(targets, lows, highs, strict=True):
        low.assign(seen_low)
        high.assign(seen_high)


def _before_activation(layer: tf_keras.layers.Dense, inputs: tf.Tensor) -> tf.Tensor:
    """A Dense layer's output before its activation (a softmax's logits)."""
    outputs = tf.matmul(inputs, layer.kernel)
    return outputs + layer.bias if layer.use_bias else outputs


def _count(inputs: dict[str, np.ndarray]) -> int:
    return len(next(iter(inputs.values())))


def _rows(inputs: dict[str, np.ndarray], start: int, stop: int) -> dict[str, tf.Tensor]:
    return {name: tf.constant(values[start:stop]) for name, values in inputs.items()}


def quantization_aware_model(
    model: tf_keras.Model, calibration: dict[str, np.ndarray]
) -> tf_keras.Model:
    """A fake-quantized copy of the model with its weights; BatchNorm stays in inference mode.

    `calibration` holds every model input by name ([N, ...] arrays, as Transform makes them).
    """
    skip_autograph_in_keras_libraries()  # before the quantized model is first traced
    # The weights the Trainer's last phase trained (the head and the top of the backbone)
    # adapt to quantization; those it kept frozen stay as they are, so the backward pass
    # stops where the Trainer's did. BatchNorm stays frozen (inference mode), as in the
    # Trainer, or small batches wreck its statistics.
    frozen = {
        layer.name
        for layer in model.layers
        if layer.weights
        and (not layer.trainable or isinstance(layer, tf_keras.layers.BatchNormalization))
    }
    annotated = tf_keras.models.clone_model(model, clone_function=_annotate)
    with _quantize.quantize_scope({"OutputQuantizeConfig": OutputQuantizeConfig}):
        aware = _quantize.quantize_apply(annotated)
    for layer in aware.layers:
        # QuantizeWrapper makes the wrapped layer's weights its own, trainable by default.
        inner = getattr(layer, "layer", layer)
        layer.trainable = inner.name not in frozen
    _seed_ranges(aware, model, calibration)
    # Weight ranges are set by the first training-mode pass; until then they are [-6, 6].
    aware(_rows(calibration, 0, 8), training=True)
    return aware


def quantization_aware_fine_tune(
    model: tf_keras.Model,
    train: tf.data.Dataset,
    calibration: dict[str, np.ndarray],
    epochs: int,
    learning_rate: float,
) -> tf_keras.Model:
    """Fine-tune a quantization-aware copy on ({model input: tensor}, label) batches."""
    try:
        aware = quantization_aware_model(model, calibration)
    except (ValueError, RuntimeError, TypeError) as err:
        raise ConversionError(
            f"qat_int8: tfmot cannot make the model quantization-aware: {err}"
        ) from err
    if epochs > 0 and any(map(_trains, aware.layers)):
        _fit_above_frozen(aware, train, epochs, learning_rate)
    return aware


def _trains(layer: tf_keras.layers.Layer) -> bool:
    """Whether fitting changes what the layer computes: trainable weights, or dropout.

    A QuantizeWrapper lists the wrapped kernel as trainable even when it is frozen, so its
    own flag decides; quantizer ranges are not trainable weights.
    """
    inner = getattr(layer, "layer", layer)
    has_trainable = any(weight.trainable for weight in layer.weights)
    return isinstance(inner, tf_keras.layers.Dropout) or (layer.trainable and has_trainable)


def _frozen_outputs(aware: tf_keras.Model) -> list:
    """The tensors where the frozen part of the model hands over to the part that trains.

    A tensor is frozen when every layer on the way from the model inputs to it is: with
    its ranges no longer moved, it is the same in every training step.
    """
    frozen: dict[int, bool] = {}

    def is_frozen(tensor) -> bool:
        # With a stack, not recursion: a path from the inputs crosses every backbone layer.
        stack = [tensor]
        while stack:
            node = stack[-1].node
            if node.is_input or _trains(node.layer):
                frozen[id(stack.pop())] = node.is_input
                continue
            unknown = [t for t in node.keras_inputs if id(t) not in frozen]
            if unknown:
                stack.extend(unknown)
                continue
            frozen[id(stack.pop())] = all(frozen[id(t)] for t in node.keras_inputs)
        return frozen[id(tensor)]

    handed_over: dict[int, object] = {}
    for layer in aware.layers:
        for node in layer.inbound_nodes:
            if node.is_input or all(map(is_frozen, tf.nest.flatten(node.outputs))):
                continue
            for tensor in node.keras_inputs:
                if is_frozen(tensor):
                    handed_over[id(tensor)] = tensor
    return list(handed_over.values())


def _fit_above_frozen(
    aware: tf_keras.Model, train: tf.data.Dataset, epochs: int, learning_rate: float
) -> None:
    """Fine-tune the layers that train, on the frozen part's outputs computed once per image.

    The frozen layers (most of the backbone, as the Trainer left it) keep their weights and
    their seeded ranges, so their fake-quantized outputs do not change between steps, and
    recomputing them every batch of every epoch was most of QAT's time. They are held in
    memory: at the default fine-tune fraction, about 0.5 MB an image at 224 px.
    """
    handed_over = _frozen_outputs(aware)
    frozen = tf_keras.Model(aware.inputs, handed_over)
    training = tf_keras.Model(handed_over, aware.outputs)
    compute = tf.function(lambda batch: tf.nest.flatten(frozen(batch, training=False)))
    parts, labels, batch_size = [[] for _ in handed_over], [], 1
    for batch, label in train:
        batch_size = max(batch_size, len(label))
        for values, part in zip(compute(batch), parts, strict=True):
            part.append(values.numpy())
        labels.append(label.numpy())
    if not labels:
        return
    labels = np.concatenate(labels)
    examples = tf.data.Dataset.from_tensor_slices(
        (tuple(np.concatenate(part) for part in parts), labels)
    )
    training.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    training.fit(
        examples.shuffle(len(labels), seed=0).batch(batch_size),
        epochs=epochs,
        verbose=2,
    )
