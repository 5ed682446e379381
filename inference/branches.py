"""How each branch of a classifier voted: its own top class and probability, and its share.

A fused model's answer is `landmark_share` of the landmark branch's probabilities and the
rest of the image branch's when a hand was found, the image branch's alone when not
(`models/head.py`). Here the head runs on the image branch's pooled features, computed
once, so that the landmark branch can be asked many times (integrated gradients) for the
price of a small MLP.
"""

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras

from signpipe.inference.saliency import image_input, model_inputs
from signpipe.models import features
from signpipe.models.head import (
    LANDMARK_SHARE,
    POOL_LAYER,
    POOLED_FEATURES,
    branch_outputs,
    head_on_features,
    is_fused,
)

IMAGE, LANDMARKS = "image", "landmarks"


@dataclasses.dataclass(frozen=True)
class Vote:
    """One branch's own answer for one image, and its share in the model's answer."""

    branch: str  # IMAGE or LANDMARKS
    label: str
    probability: float
    share: float


@dataclasses.dataclass(frozen=True)
class Votes:
    """The model's answer for one image and the branches' votes that made it."""

    label: str
    probability: float
    votes: tuple[Vote, ...]  # the branches that had a say, landmarks first
    hand_found: bool | None  # None: the model does not read the hand
    only_branch: str  # the model's only branch (IMAGE or LANDMARKS); "" for a fused model

    def line(self) -> str:
        """`F 49% = landmarks F 61% (share 0.67) + image T 38% (share 0.33)`, or who
        answered alone."""
        answer = f"{self.label} {self.probability:.0%}"
        if self.only_branch == LANDMARKS and not self.hand_found:
            return f"{answer}: no hand found, the landmark model had nothing to read"
        if self.only_branch:
            return f"{answer} ({self.only_branch} branch: the model's only one)"
        if not self.hand_found:
            return f"{answer}: no hand found, the image branch answered alone"
        return f"{answer} = " + " + ".join(
            f"{v.branch} {v.label} {v.probability:.0%} (share {v.share:.2f})" for v in self.votes
        )


class Branches:
    """A classifier's branches: the head on pooled image features (a fused model), or the
    model itself (one branch)."""

    def __init__(self, model: tf_keras.Model):
        """Split a fused model at its pooling layer; keep a one-branch model whole."""
        self.model = model
        self.fused = is_fused(model)
        self.reads_landmarks = features.LANDMARK_FEATURE in model.input_names
        self.head = model
        self.landmark_share = 0.0
        if self.fused:
            self.head = head_on_features(model)
            image = model.get_layer(image_input(model)).output
            self._pool = tf_keras.Model(image, model.get_layer(POOL_LAYER).output)
            self.landmark_share = float(model.get_layer(LANDMARK_SHARE).scale)

    def head_inputs(self, inputs: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
        """The head's inputs from the model's: a fused model's image becomes pooled features."""
        given = model_inputs(self.model, inputs)
        if not self.fused:
            return given
        image = given.pop(image_input(self.model))
        return {POOLED_FEATURES: self._pool(image, training=False), **given}

    def votes(self, head_inputs: dict[str, tf.Tensor], classes: list[str]) -> list[Votes]:
        """Each image's answer and the branches' votes, from `head_inputs`."""
        found = None
        if self.reads_landmarks:
            found = head_inputs[features.HAND_FOUND_FEATURE].numpy()[:, 0] > 0.5
        if not self.fused:
            answers = self.head(head_inputs, training=False).numpy()
            only = LANDMARKS if self.reads_landmarks else IMAGE
            return [
                Votes(*_top(row, classes), (), None if found is None else bool(found[i]), only)
                for i, row in enumerate(answers)
            ]
        count = len(classes)
        outputs = branch_outputs(self.head)(head_inputs, training=False).numpy()
        result = []
        for row, has_hand in zip(outputs, found, strict=True):
            share = self.landmark_share if has_hand else 0.0
            votes = (
                Vote(LANDMARKS, *_top(row[2 * count : 3 * count], classes), share),
                Vote(IMAGE, *_top(row[count : 2 * count], classes), 1.0 - share),
            )
            result.append(Votes(*_top(row[:count], classes), votes, bool(has_hand), ""))
        return result


def _top(probabilities: np.ndarray, classes: list[str]) -> tuple[str, float]:
    index = int(probabilities.argmax())
    return classes[index], float(probabilities[index])
