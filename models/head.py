"""The classifier's head: a softmax per branch, mixed when both read, and how it trains.

With both inputs each branch has its own softmax, trained on its own loss, so each works
alone (a request without landmarks gets the image branch's answer). The answer is a mix
of their probabilities: `landmark_share` of the landmark branch's when a hand was found,
the image branch's alone when not. Mixing probabilities, not concatenating features
before one softmax, keeps a branch that is confidently wrong on a new signer (the crop
branch learns the person) from outvoting the other.
"""

import tensorflow as tf
import tf_keras

from signpipe.models import features
from signpipe.models.landmark_scaling import LANDMARK_STANDARDIZER, LandmarkScaling
from signpipe.pipeline.configs import TrainingConfig

POOL_LAYER = "head_pool"
IMAGE_SOFTMAX = "head_softmax"
LANDMARK_SOFTMAX = "head_landmarks_softmax"
# found -> the share of each branch in the answer: Rescaling layers (multiply and add).
IMAGE_SHARE, LANDMARK_SHARE = "head_image_share", "head_landmarks_share"
POOLED_FEATURES = "pooled_features"
# What a fused model trains on: [answer | image softmax | landmark softmax | found].
_TRAINING_OUTPUTS = "head_training_outputs"
# The landmark MLP's two layers. A probe on held-out signers (3 seeds, landmark jitter
# 0.04): 256/128 units read 90.9% on asl_massey's test people against 89.5% with 128/64;
# leaving each asl_massey person out in turn, within noise (docs/benchmarks.md).
LANDMARK_UNITS = (256, 128)


def head_layers(
    options: TrainingConfig, num_classes: int, scaling: LandmarkScaling
) -> dict[str, tf_keras.layers.Layer]:
    """The layers after the backbone, by name (every name starts with `head_`)."""
    layers = tf_keras.layers
    names = features.MODEL_INPUTS[options.inputs]
    made = []
    if features.IMAGE_FEATURE in names:
        made += [
            layers.Dropout(options.dropout, name="head_dropout"),
            layers.Dense(num_classes, activation="softmax", name=IMAGE_SOFTMAX),
        ]
    if features.LANDMARK_FEATURE in names:
        made += [
            # Standardized inside the model, so phones and servers feed the features as they
            # are; a multiply and an add, which int8 TFLite runs (a division would not be).
            layers.Rescaling(list(scaling.scale), list(scaling.offset), name=LANDMARK_STANDARDIZER),
            # Zero again where no hand was found: standardized, the zeros would become
            # -mean/std, far outside the real hands' range, which int8 would have to span.
            layers.Multiply(name="head_landmarks_present"),
            layers.Dense(LANDMARK_UNITS[0], activation="relu", name="head_landmarks_dense"),
            layers.Dropout(options.dropout, name="head_landmarks_dropout"),
            layers.Dense(LANDMARK_UNITS[1], activation="relu", name="head_landmarks_embedding"),
            layers.Multiply(name="head_landmarks_found"),
            layers.Dense(num_classes, activation="softmax", name=LANDMARK_SOFTMAX),
        ]
    if len(names) == len(features.MODEL_INPUTS["both"]):
        share = options.landmark_share
        made += [
            layers.Rescaling(-share, 1.0, name=IMAGE_SHARE),
            layers.Rescaling(share, 0.0, name=LANDMARK_SHARE),
            layers.Multiply(name="head_image_weighted"),
            layers.Multiply(name="head_landmarks_weighted"),
            layers.Add(name="head_mix"),
        ]
    return {layer.name: layer for layer in made}


def wire_head(layers: dict, pooled, landmarks, found) -> tuple[tf.Tensor, tf.Tensor]:
    """(probabilities, what the model trains on) from pooled image features and/or landmarks.

    Without both branches the two are the same tensor.
    """
    image = hand = None
    if pooled is not None:
        image = layers[IMAGE_SOFTMAX](layers["head_dropout"](pooled))
    if landmarks is not None:
        shape = layers["head_landmarks_present"]([layers[LANDMARK_STANDARDIZER](landmarks), found])
        shape = layers["head_landmarks_dense"](shape)
        shape = layers["head_landmarks_embedding"](layers["head_landmarks_dropout"](shape))
        hand = layers[LANDMARK_SOFTMAX](layers["head_landmarks_found"]([shape, found]))
    if image is None or hand is None:
        only = hand if image is None else image
        return only, only
    answer = layers["head_mix"](
        [
            layers["head_image_weighted"]([image, layers[IMAGE_SHARE](found)]),
            layers["head_landmarks_weighted"]([hand, layers[LANDMARK_SHARE](found)]),
        ]
    )
    training = tf_keras.layers.Concatenate(name=_TRAINING_OUTPUTS)([answer, image, hand, found])
    return answer, training


def head_on_features(model: tf_keras.Model) -> tf_keras.Model:
    """The classifier's head on pooled image features (and landmarks): the same layers, shared."""
    pool = model.get_layer(POOL_LAYER)
    pooled = tf_keras.Input(pool.output_shape[1:], name=POOLED_FEATURES)
    inputs, landmarks, found = [pooled], None, None
    if features.LANDMARK_FEATURE in model.input_names:
        landmarks = tf_keras.Input(
            (features.LANDMARK_FEATURE_SIZE,), name=features.LANDMARK_FEATURE
        )
        found = tf_keras.Input((1,), name=features.HAND_FOUND_FEATURE)
        inputs += [landmarks, found]
    answer, _ = wire_head(_layers_of(model), pooled, landmarks, found)
    return tf_keras.Model(inputs, answer, name="head")


def is_fused(model: tf_keras.Model) -> bool:
    """True when the model mixes an image and a landmark softmax."""
    names = {layer.name for layer in model.layers}
    return IMAGE_SOFTMAX in names and LANDMARK_SOFTMAX in names


def branch_outputs(model: tf_keras.Model) -> tf_keras.Model:
    """The model with the outputs it trains on: for a fused model [answer | image softmax |
    landmark softmax | found]; else the model itself. Layers are shared."""
    if not is_fused(model):
        return model
    by_name = dict(zip(model.input_names, model.inputs, strict=True))
    pooled = (
        by_name[POOLED_FEATURES]
        if POOLED_FEATURES in by_name
        else model.get_layer(POOL_LAYER).get_output_at(0)
    )
    _, outputs = wire_head(
        _layers_of(model),
        pooled,
        by_name[features.LANDMARK_FEATURE],
        by_name[features.HAND_FOUND_FEATURE],
    )
    return tf_keras.Model(model.inputs, outputs, name=f"{model.name}_training")


def compile_for_training(
    model: tf_keras.Model, learning_rate: float, label_smoothing: float
) -> tf_keras.Model:
    """`branch_outputs(model)`, compiled with Adam, training_loss and the answer's accuracy."""
    num_classes = model.output_shape[-1]
    training = branch_outputs(model)
    fused = training is not model
    training.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate),
        loss=training_loss(label_smoothing, num_classes, fused),
        metrics=[_answer_accuracy(num_classes) if fused else "accuracy"],
    )
    return training


def training_loss(label_smoothing: float, num_classes: int, fused: bool = False):
    """Cross-entropy on integer labels, smoothed towards the uniform distribution if asked.

    Fused: the image softmax's loss plus the landmark softmax's on examples with a hand.
    """

    def crossentropy(labels, probabilities):
        one_hot = tf.one_hot(tf.reshape(tf.cast(labels, tf.int32), [-1]), num_classes)
        return tf_keras.losses.categorical_crossentropy(
            one_hot, probabilities, label_smoothing=label_smoothing
        )

    if not fused:
        return crossentropy

    def branch_crossentropy(labels, outputs):
        image = outputs[:, num_classes : 2 * num_classes]
        hand = outputs[:, 2 * num_classes : 3 * num_classes]
        found = outputs[:, 3 * num_classes]
        return crossentropy(labels, image) + found * crossentropy(labels, hand)

    return branch_crossentropy


def _answer_accuracy(num_classes: int) -> tf_keras.metrics.Metric:
    """Top-1 accuracy of the mixed answer, the first num_classes training outputs."""

    def answer_accuracy(labels, outputs):
        return tf_keras.metrics.sparse_categorical_accuracy(labels, outputs[:, :num_classes])

    return tf_keras.metrics.MeanMetricWrapper(answer_accuracy, name="accuracy")


def _layers_of(model: tf_keras.Model) -> dict[str, tf_keras.layers.Layer]:
    return {layer.name: layer for layer in model.layers if layer.name.startswith("head_")}
