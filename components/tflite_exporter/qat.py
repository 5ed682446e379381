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
from signpipe.models.keras_tracing import skip_autograph_in_keras_libraries

_quantize = tfmot.quantization.keras


class RescalingQuantizeConfig(_quantize.QuantizeConfig):
    """Fake-quantize the input normalisation's output on its exact, fixed range.

    tfmot has no default config for Rescaling; it holds no weights, so quantizing what it
    emits (pixels 0-255 mapped through scale and offset) is all the integer model needs.
    """

    def __init__(self, low: float, high: float):
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
        return [
            _quantize.quantizers.FixedQuantizer(
                num_bits=8, init_min=self.low, init_max=self.high, narrow_range=False
            )
        ]

    def get_config(self):
        return {"low": self.low, "high": self.high}


def _annotate(layer: tf_keras.layers.Layer) -> tf_keras.layers.Layer:
    if isinstance(layer, tf_keras.layers.Rescaling):
        ends = np.array([0.0, 255.0]) * np.asarray(layer.scale).max() + np.asarray(layer.offset)
        config = RescalingQuantizeConfig(float(np.min(ends)), float(np.max(ends)))
        return _quantize.quantize_annotate_layer(layer, quantize_config=config)
    return _quantize.quantize_annotate_layer(layer)


def _seed_ranges(aware: tf_keras.Model, model: tf_keras.Model, images: np.ndarray) -> None:
    """Start activation ranges where the float model's activations are, the input at 0-255.

    tfmot starts every range at [-6, 6] and moves it by a slow moving average, so a short
    fine-tune would convert with ranges that clip (project convolutions reach about +-30)
    or waste resolution (ReLU6 outputs).
    """
    ranges = {}
    for layer in aware.layers:
        if isinstance(
            layer, QuantizeLayer
        ):  # uint8 input with scale 1: raw pixels go in as they are
            for weight in layer.weights:
                if weight.name.endswith("_min:0"):
                    weight.assign(0.0)
                elif weight.name.endswith("_max:0"):
                    weight.assign(255.0)
        elif isinstance(layer, _quantize.QuantizeWrapper):
            names = {w.name.split("/")[-1].split(":")[0]: w for w in layer.weights}
            if "output_min" in names:
                ranges[layer.layer.name] = (names["output_min"], names["output_max"])
    probe = tf_keras.Model(model.input, [model.get_layer(name).output for name in ranges])

    @tf.function
    def extremes(batch):
        outputs = probe(batch, training=False)
        return [tf.reduce_min(out) for out in outputs], [tf.reduce_max(out) for out in outputs]

    # Batch by batch: every layer's activations for all images at once took 15 GB at 224 px.
    lows, highs = np.zeros(len(ranges)), np.zeros(len(ranges))
    for start in range(0, len(images), 16):
        batch_lows, batch_highs = extremes(tf.constant(images[start : start + 16]))
        lows = np.minimum(lows, [float(v) for v in batch_lows])
        highs = np.maximum(highs, [float(v) for v in batch_highs])
    for (low, high), seen_low, seen_high in zip(ranges.values(), lows, highs, strict=True):
        low.assign(seen_low)
        high.assign(seen_high)


def quantization_aware_model(model: tf_keras.Model, calibration: np.ndarray) -> tf_keras.Model:
    """A fake-quantized copy of the model with its weights; BatchNorm stays in inference mode."""
    skip_autograph_in_keras_libraries()  # before the quantized model is first traced
    for layer in model.layers:
        # QuantizeWrapper makes wrapped kernels trainable whatever the flag; BatchNorm must stay
        # frozen (inference mode), as in the Trainer, or small batches wreck its statistics.
        layer.trainable = not isinstance(layer, tf_keras.layers.BatchNormalization)
    annotated = tf_keras.models.clone_model(model, clone_function=_annotate)
    with _quantize.quantize_scope({"RescalingQuantizeConfig": RescalingQuantizeConfig}):
        aware = _quantize.quantize_apply(annotated)
    _seed_ranges(aware, model, calibration)
    # Weight ranges are set by the first training-mode pass; until then they are [-6, 6].
    aware(calibration[:8], training=True)
    return aware


def quantization_aware_fine_tune(
    model: tf_keras.Model,
    train: tf.data.Dataset,
    calibration: np.ndarray,
    epochs: int,
    learning_rate: float,
) -> tf_keras.Model:
    """Fine-tune a quantization-aware copy on (serialized, image, label) batches."""
    try:
        aware = quantization_aware_model(model, calibration)
    except (ValueError, RuntimeError, TypeError) as err:
        raise ConversionError(
            f"qat_int8: tfmot cannot make the model quantization-aware: {err}"
        ) from err
    aware.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    if epochs > 0:
        pairs = train.map(lambda _serialized, image, label: (image, label)).cache()
        aware.fit(pairs.shuffle(64, seed=0).prefetch(tf.data.AUTOTUNE), epochs=epochs, verbose=2)
    return aware
