"""Trainer module: a flat EfficientNet classifier trained by two-phase transfer learning."""

import dataclasses
import json
import math
import os
import tempfile
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from signpipe.models import features
from signpipe.models.backbones import build_backbone
from signpipe.models.head import (
    POOL_LAYER,
    POOLED_FEATURES,
    compile_for_training,
    head_layers,
    head_on_features,
    wire_head,
)
from signpipe.models.keras_tracing import skip_autograph_in_keras_libraries
from signpipe.models.landmark_augmentation import jitter_hands, turn_hands
from signpipe.models.landmark_scaling import LandmarkScaling, landmark_scaling
from signpipe.models.signatures import serving_signatures
from signpipe.pipeline import progress_log
from signpipe.pipeline.configs import TrainingConfig

HISTORY_FILE = "training_history.json"


def build_classifier(
    options: TrainingConfig, num_classes: int, landmark_scaling: LandmarkScaling | None = None
) -> tf_keras.Model:
    """The classifier on `options.inputs` as one flat functional model.

    The image branch is the backbone with global pooling, dropout and a softmax; the
    landmark branch standardizes the landmark features (`landmark_scaling`, from the
    training split) and runs a small MLP and a softmax, silent where no hand was found.
    With both, the answer mixes the two (`models/head.py`).
    """
    skip_autograph_in_keras_libraries()  # before the model is first traced
    inputs, pooled, landmarks, found = [], None, None, None
    if features.IMAGE_FEATURE in model_input_names(options):
        shape = (options.image_size, options.image_size, 3)
        backbone = build_backbone(options.backbone, options.backbone_weights, shape)
        inputs.append(backbone.input)
        pooled = tf_keras.layers.GlobalAveragePooling2D(name=POOL_LAYER)(backbone.output)
    if features.LANDMARK_FEATURE in model_input_names(options):
        landmarks = tf_keras.Input(
            (features.LANDMARK_FEATURE_SIZE,), name=features.LANDMARK_FEATURE
        )
        found = tf_keras.Input((1,), name=features.HAND_FOUND_FEATURE)
        inputs += [landmarks, found]
    layers = head_layers(options, num_classes, landmark_scaling or LandmarkScaling.identity())
    answer, _ = wire_head(layers, pooled, landmarks, found)
    return tf_keras.Model(inputs, answer, name=f"signpipe_{options.backbone}_{options.inputs}")


def model_input_names(options: TrainingConfig) -> tuple[str, ...]:
    """The transformed features the model takes, in its input order."""
    return features.MODEL_INPUTS[options.inputs]


def load_classifier(serving_model_dir: str) -> tf_keras.Model:
    """The trained Keras classifier (image in, probabilities out) of a SavedModel, no TFT layer."""
    skip_autograph_in_keras_libraries()  # before the model is first traced
    loaded = tf_keras.models.load_model(serving_model_dir, compile=False)
    # The transform layer rides along as a tracked attribute; only the image graph is wanted.
    return tf_keras.Model(loaded.inputs, loaded.outputs, name=loaded.name)


def set_backbone_trainable(
    model: tf_keras.Model, fraction: float, train_batch_norm: bool = False
) -> int:
    """Freeze the backbone but its top `fraction` of layers; BatchNorm stays frozen unless asked.

    A frozen Keras 2 BatchNormalization runs in inference mode, so fine-tuning on small
    batches does not wreck the pretrained statistics. Returns the unfrozen layer count.
    """
    backbone = [
        layer
        for layer in model.layers
        if not layer.name.startswith("head_")
        and layer.name not in (features.LANDMARK_FEATURE, features.HAND_FOUND_FEATURE)
    ]
    first_trainable = len(backbone) - math.ceil(len(backbone) * fraction)
    unfrozen = 0
    for index, layer in enumerate(backbone):
        is_bn = isinstance(layer, tf_keras.layers.BatchNormalization)
        layer.trainable = index >= first_trainable and (train_batch_norm or not is_bn)
        unfrozen += int(layer.trainable and bool(layer.weights))
    return unfrozen


def augmenter(options: TrainingConfig) -> tf_keras.Sequential:
    """Random zoom/crop, shift, small rotation, brightness and contrast (training only),
    each scaled by `options.augmentation`."""
    strength, seed = options.augmentation, options.seed
    layers = []
    if strength > 0:
        layers = [
            tf_keras.layers.RandomZoom(0.15 * strength, seed=seed),
            tf_keras.layers.RandomTranslation(0.08 * strength, 0.08 * strength, seed=seed),
            # 0.04 of a full turn: about +-15 degrees
            tf_keras.layers.RandomRotation(0.04 * strength, seed=seed),
            tf_keras.layers.RandomBrightness(0.15 * strength, value_range=(0.0, 255.0), seed=seed),
            tf_keras.layers.RandomContrast(0.15 * strength, seed=seed),
        ]
    if options.horizontal_flip:
        layers.append(tf_keras.layers.RandomFlip("horizontal", seed=seed))
    return tf_keras.Sequential(layers, name="augmentation")


# Encoded records (not decoded images) held to shuffle the training split anew each epoch:
# 2,048 JPEGs of 20-60 KB. ExampleGen writes records in a path-hash order, so every class
# is in the buffer at once.
RECORD_SHUFFLE_BUFFER = 2048


def dataset_options(options: TrainingConfig, training: bool) -> tfxio.TensorFlowDatasetOptions:
    """One pass over a split's records in batches; training records reshuffled every pass."""
    return tfxio.TensorFlowDatasetOptions(
        batch_size=options.batch_size,
        shuffle=training,
        shuffle_buffer_size=RECORD_SHUFFLE_BUFFER,
        shuffle_seed=options.seed,
        num_epochs=1,
    )


def _dataset(
    fn_args: FnArgs, tft_output: tft.TFTransformOutput, files: list[str], options, training: bool
) -> tf.data.Dataset:
    """Raw examples -> transform graph -> ({model input: tensor}, label) batches, decoded anew
    on every pass, so that memory does not grow with the split.

    Training batches are reshuffled every epoch and not augmented here.
    """
    raw = fn_args.data_accessor.tf_dataset_factory(
        files, dataset_options(options, training), tft_output.raw_metadata.schema
    )
    transform = tft_output.transform_features_layer()
    names = model_input_names(options)

    # No tensor-dependent Python control flow here: AutoGraph would only re-transpile TFT's
    # and Keras's code on each trace.
    @tf.autograph.experimental.do_not_convert
    def _to_pair(raw_features):
        transformed = transform(raw_features)
        inputs = {name: transformed[name] for name in names}
        return inputs, transformed[features.LABEL_FEATURE]

    return raw.map(_to_pair, num_parallel_calls=tf.data.AUTOTUNE)


def with_varied_hands(dataset: tf.data.Dataset, options: TrainingConfig) -> tf.data.Dataset:
    """Batches with a `landmark_turn` share of hands turned round and every hand's landmarks
    moved by `landmark_jitter`, freshly drawn every epoch."""
    turn, jitter = options.landmark_turn, options.landmark_jitter
    if features.LANDMARK_FEATURE not in model_input_names(options) or not (turn or jitter):
        return dataset

    generator = tf.random.Generator.from_seed(options.seed)

    def _vary(inputs, labels):
        hands = inputs[features.LANDMARK_FEATURE]
        if turn:
            hands = turn_hands(hands, turn, generator)
        if jitter:
            hands = jitter_hands(hands, jitter, generator)
        return {**inputs, features.LANDMARK_FEATURE: hands}, labels

    return dataset.map(
        tf.autograph.experimental.do_not_convert(_vary), num_parallel_calls=tf.data.AUTOTUNE
    )


# Pooled feature vectors held to reshuffle the head phase's batches each epoch: 4,096 of
# 1,280 floats are 20 MB.
RESHUFFLE_BUFFER = 4096


def reshuffled(dataset: tf.data.Dataset, options: TrainingConfig) -> tf.data.Dataset:
    """The batches' examples dealt into new batches, in a new order, on every epoch.

    Keras does not shuffle a tf.data input, and features read back from a file come in one
    order: without this, every epoch would train on the same batches in the same order.
    """
    return (
        dataset.unbatch()
        .shuffle(RESHUFFLE_BUFFER, seed=options.seed, reshuffle_each_iteration=True)
        .batch(options.batch_size)
    )


def augmented(dataset: tf.data.Dataset, options: TrainingConfig) -> tf.data.Dataset:
    """Training batches through `augmenter` and with hands varied, freshly drawn every
    epoch."""
    dataset = with_varied_hands(dataset, options)
    if features.IMAGE_FEATURE not in model_input_names(options):
        return dataset
    augment = augmenter(options)

    def _augment(inputs, labels):
        image = augment(inputs[features.IMAGE_FEATURE], training=True)
        return {**inputs, features.IMAGE_FEATURE: image}, labels

    return dataset.map(
        tf.autograph.experimental.do_not_convert(_augment), num_parallel_calls=tf.data.AUTOTUNE
    )


def pooled_features(
    model: tf_keras.Model, dataset: tf.data.Dataset, folder: str
) -> tf.data.Dataset:
    """({pooled features of the frozen backbone, other inputs}, label) batches, computed in
    one pass, written to `folder` and read back from it on every epoch."""
    image = model.get_layer(features.IMAGE_FEATURE).output
    extractor = tf_keras.Model(image, model.get_layer(POOL_LAYER).output)
    others = [name for name in model.input_names if name != features.IMAGE_FEATURE]
    inputs_spec, label_spec = dataset.element_spec

    def batches():
        for inputs, labels in dataset:
            pooled = extractor.predict_on_batch(inputs[features.IMAGE_FEATURE])
            yield {POOLED_FEATURES: pooled, **{name: inputs[name] for name in others}}, labels

    signature = (
        {
            POOLED_FEATURES: tf.TensorSpec([None, extractor.output_shape[-1]], tf.float32),
            **{name: inputs_spec[name] for name in others},
        },
        label_spec,
    )
    tf.data.Dataset.from_generator(batches, output_signature=signature).save(folder)
    return tf.data.Dataset.load(folder)


def head_phase(
    model: tf_keras.Model,
    images: tf.data.Dataset,
    train: tf.data.Dataset,
    evaluate: tf.data.Dataset,
    options: TrainingConfig,
    folder: str,
) -> tuple[tf_keras.Model, tf.data.Dataset, tf.data.Dataset]:
    """(model, training batches, eval batches) of phase 1, from the un-augmented `images`,
    the augmented `train` and the `evaluate` batches of the model's inputs; pooled features
    are kept under `folder`."""
    if (
        options.backbone_weights == "none"
        or options.head_augmentation
        or options.head_epochs <= 0
        or features.IMAGE_FEATURE not in model.input_names
    ):
        return model, train, evaluate
    # A frozen backbone gives each image the same features every epoch: compute them once
    # and train the head alone, instead of running the backbone on every batch.
    return (
        head_on_features(model),
        with_varied_hands(
            reshuffled(pooled_features(model, images, os.path.join(folder, "train")), options),
            options,
        ),
        pooled_features(model, evaluate, os.path.join(folder, "eval")),
    )


class _EpochProgress(tf_keras.callbacks.Callback):
    """Reports each epoch's metrics (a milestone) and its batches: done of total (known from
    the first epoch on: the splits stream, so their length is not known before), rate and
    time left, with a milestone line at least every minute."""

    def __init__(self, phase: str, epochs: int):
        super().__init__()
        self._phase, self._epochs, self._epoch = phase, epochs, 0
        self._steps: int | None = None
        self._batches = progress_log.Progress("Trainer", "batches", None)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._batches = progress_log.Progress("Trainer", "batches", self._steps)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss", 0)
        self._batches.advance(
            prefix=f"{self._phase} epoch {self._epoch}/{self._epochs}, loss {loss:.3f}: "
        )

    def on_epoch_end(self, epoch, logs=None):
        self._steps = self._batches.done
        logs = logs or {}
        progress_log.report(
            "Trainer",
            f"{self._phase} epoch {epoch + 1}/{self._epochs}: loss {logs.get('loss', 0):.3f}, "
            f"accuracy {logs.get('accuracy', 0):.1%}, eval loss {logs.get('val_loss', 0):.3f}, "
            f"eval accuracy {logs.get('val_accuracy', 0):.1%}",
            milestone=True,
        )


def fit_phase(model, train, evaluate, epochs, learning_rate, options, log_dir, phase):
    """Compile and fit one phase with early stopping on eval loss; return its history."""
    if epochs <= 0:
        return {}
    history = compile_for_training(model, learning_rate, options.label_smoothing).fit(
        train,
        validation_data=evaluate,
        epochs=epochs,
        verbose=2,
        callbacks=[
            tf_keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=options.early_stopping_patience,
                restore_best_weights=True,
            ),
            tf_keras.callbacks.TensorBoard(log_dir=os.path.join(log_dir, phase)),
            _EpochProgress(phase, epochs),
        ],
    )
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point: train both phases, save the model, signatures and history."""
    options = TrainingConfig(**(fn_args.custom_config or {}))
    tf_keras.utils.set_random_seed(options.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    num_classes = len(tft_output.vocabulary_by_name(features.LABEL_VOCABULARY))
    images = _dataset(fn_args, tft_output, fn_args.train_files, options, training=True)
    evaluate = _dataset(fn_args, tft_output, fn_args.eval_files, options, training=False)
    train = augmented(images, options).prefetch(tf.data.AUTOTUNE)
    model = build_classifier(
        options, num_classes, landmark_scaling(images, model_input_names(options))
    )
    log_dir = os.path.join(fn_args.model_run_dir, "tensorboard")

    # A random backbone has nothing to preserve: all of it trains from the first epoch, and
    # its BatchNorm must learn statistics (frozen, it would keep mean 0 / variance 1).
    from_scratch = options.backbone_weights == "none"
    set_backbone_trainable(model, 1.0 if from_scratch else 0.0, train_batch_norm=from_scratch)
    with tempfile.TemporaryDirectory(prefix="signpipe-pooled-") as pooled:
        history: dict[str, Any] = {
            "head": fit_phase(
                *head_phase(model, images, train, evaluate, options, pooled),
                options.head_epochs,
                options.head_learning_rate,
                options,
                log_dir,
                "head",
            )
        }
    unfrozen = set_backbone_trainable(
        model, 1.0 if from_scratch else options.finetune_fraction, train_batch_norm=from_scratch
    )
    history["finetune"] = fit_phase(
        model,
        train,
        evaluate,
        options.finetune_epochs,
        options.finetune_learning_rate,
        options,
        log_dir,
        "finetune",
    )
    history["finetune_unfrozen_layers"] = unfrozen
    history["options"] = dataclasses.asdict(options)

    # Without Keras's per-layer traces: the signatures are what serving and TFMA call, and
    # load_classifier rebuilds the model from its config (all built-in layers).
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=serving_signatures(model, tft_output),
        save_traces=False,
    )
    for folder in (fn_args.serving_model_dir, fn_args.model_run_dir):
        with tf.io.gfile.GFile(os.path.join(folder, HISTORY_FILE), "w") as handle:
            handle.write(json.dumps(history, indent=2))
