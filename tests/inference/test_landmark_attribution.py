"""The joints' attributions mean something: they find the finger that tells the classes apart,
need the trained weights, and add up to the answer's change from the baseline hand.

The hands are drawn from joint angles: two classes that differ only in how the index finger
bends, while the pinky bends at random (a finger that moves a lot and means nothing).
"""

import functools

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from scipy.stats import spearmanr

from signpipe.components.image_folder_example_gen.hand_analysis import NO_HAND, HandFacts
from signpipe.inference.branches import Branches
from signpipe.inference.landmark_attribution import attribute, mean_hand, posed_baseline
from signpipe.models import features
from signpipe.models.head import branch_outputs, compile_for_training
from signpipe.models.landmark_scaling import LandmarkScaling
from signpipe.models.model import build_classifier
from signpipe.models.preprocessing import landmark_features
from signpipe.pipeline.configs import TrainingConfig

INDEX, PINKY = range(5, 9), range(17, 21)
# Knuckle positions along the palm's top (x, relative to the wrist, in hand lengths) and
# each finger's segment lengths, thumb first.
BASES = ((-0.25, -0.15), (-0.12, -0.45), (0.0, -0.47), (0.1, -0.45), (0.2, -0.4))
SEGMENTS = (0.14, 0.12, 0.1)


def _hand(rng: np.random.Generator, label: int) -> np.ndarray:
    """63 raw landmark values of a right hand, upright in a square frame: index straight
    (label 0) or bent (1), the pinky bent at random, every joint a little off."""
    points = [np.zeros(2)]
    for finger, (x, y) in enumerate(BASES):
        bend = {1: 1.1 * label, 4: rng.uniform(0.0, 1.3)}.get(finger, 0.1)
        angle = (x * 1.2 if finger else -0.9) + rng.normal(0, 0.05)
        joint = np.array([x, y])
        points.append(joint.copy())
        for length in SEGMENTS:
            angle += bend
            joint = joint + length * np.array([np.sin(angle), -np.cos(angle)])
            points.append(joint.copy())
    xy = np.array(points) + rng.normal(0, 0.01, (features.LANDMARK_COUNT, 2))
    z = rng.normal(0, 0.01, (features.LANDMARK_COUNT, 1))
    return np.concatenate([[0.5, 0.8] + 0.4 * xy, z], axis=1).ravel().astype(np.float32)


def _hands(count: int, seed: int) -> tuple[list[HandFacts], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    hands = [HandFacts(True, 1.0, features.RIGHT, tuple(_hand(rng, y))) for y in labels]
    return hands, labels


def _features(hands: list[HandFacts]) -> np.ndarray:
    return landmark_features(
        np.array([hand.landmarks for hand in hands], np.float32),
        tf.ones([len(hands)]),
        tf.constant([hand.handedness.encode() for hand in hands]),
        tf.ones([len(hands)]),
    ).numpy()


def _inputs(hands: list[HandFacts]) -> dict[str, np.ndarray]:
    return {
        features.LANDMARK_FEATURE: _features(hands),
        features.HAND_FOUND_FEATURE: np.ones((len(hands), 1), np.float32),
    }


def _landmark_model(seed: int, scaling: LandmarkScaling) -> tf_keras.Model:
    tf_keras.utils.set_random_seed(seed)
    return build_classifier(TrainingConfig(inputs="landmarks"), 2, scaling)


@functools.cache
def _trained():
    hands, labels = _hands(400, seed=0)
    inputs = _inputs(hands)
    scaling = LandmarkScaling.of(inputs[features.LANDMARK_FEATURE], np.ones(len(hands)))
    model = _landmark_model(0, scaling)
    compile_for_training(model, 3e-3, 0.0).fit(inputs, labels, epochs=8, verbose=0)
    test_hands, test_labels = _hands(40, seed=1)
    predicted = model(_inputs(test_hands), training=False).numpy().argmax(axis=1)
    assert (predicted == test_labels).mean() >= 0.95
    return model, scaling, test_hands, test_labels


def _attributions(model: tf_keras.Model, hands: list[HandFacts], labels: np.ndarray):
    branches = Branches(model)
    head_inputs = branches.head_inputs(_inputs(hands))
    return attribute(branches, head_inputs, hands, np.ones(len(hands)), labels)


def test_the_baseline_is_the_training_mean_hand_posed_at_the_hands_wrist_and_size():
    model, _, hands, _ = _trained()
    mean = mean_hand(Branches(model))
    training = _inputs(_hands(400, seed=0)[0])[features.LANDMARK_FEATURE]
    np.testing.assert_allclose(
        mean.ravel(), training[:, : features.LANDMARK_VALUES].mean(axis=0), atol=1e-4
    )
    # The same hand mirrored (a left hand), turned, smaller, in a frame 1.5 times as wide.
    points = np.reshape(hands[0].landmarks, (-1, 3)) - [0.5, 0.8, 0]
    cos, sin = np.cos(0.6), np.sin(0.6)
    x, y = -points[:, 0], points[:, 1]
    turned = np.stack([cos * x - sin * y, sin * x + cos * y, points[:, 2]], axis=1)
    other = ([0.4, 0.6, 0] + 0.7 * turned) / [1.5, 1, 1.5]
    left = HandFacts(True, 1.0, features.LEFT, tuple(other.ravel()))
    for hand, aspect in ((hands[0], 1.0), (left, 1.5)):
        baseline = posed_baseline(mean, hand, aspect)
        posed = landmark_features(
            baseline.reshape(1, -1), tf.ones([1]), tf.constant([hand.handedness]), [aspect]
        ).numpy()[0, : features.LANDMARK_VALUES]
        coordinates = mean / np.linalg.norm(mean[:, :2], axis=1).max()
        np.testing.assert_allclose(posed, coordinates.ravel(), atol=1e-4)
        raw = np.reshape(hand.landmarks, (-1, 3))
        np.testing.assert_allclose(baseline[0], raw[0], atol=1e-6)  # at the hand's wrist


def test_attributions_add_up_to_the_answers_change_from_the_baseline():
    model, _, hands, labels = _trained()
    attributions = _attributions(model, hands, labels)
    total = np.array([a.points.sum() for a in attributions])
    change = np.array([a.score - a.baseline_score for a in attributions])
    assert np.abs(change).max() > 0.1  # the baseline is not the answer already
    np.testing.assert_allclose(total, change, atol=0.01 + 0.01 * np.abs(change).max())


def _finger_share(attributions, joints: range) -> np.ndarray:
    weights = np.abs(np.stack([a.joints for a in attributions]))
    return weights[:, list(joints)].sum(axis=1) / weights.sum(axis=1)


def test_the_finger_that_tells_the_classes_apart_weighs_most_and_needs_the_trained_weights():
    model, scaling, hands, labels = _trained()
    trained = _attributions(model, hands, labels)
    index, pinky = _finger_share(trained, INDEX), _finger_share(trained, PINKY)
    assert np.median(index) > 0.5 and np.median(pinky) < 0.2, (index, pinky)
    named = [a.top_joints()[0].split(" +")[0].split(" -")[0] for a in trained]
    assert np.mean([name.startswith("index") for name in named]) > 0.7, named

    random = _attributions(_landmark_model(7, scaling), hands, labels)
    pairs = list(zip(trained, random, strict=True))
    # Which way each joint pushes: unrelated (other seeds -0.15 to 0.03). How much it
    # weighs keeps some likeness (0.41-0.52): integrated gradients scale every joint by how
    # far it lies from the baseline hand, and the random pinky lies far whatever the weights.
    assert np.median([spearmanr(a.joints, b.joints)[0] for a, b in pairs]) < 0.3
    assert np.median([spearmanr(abs(a.joints), abs(b.joints))[0] for a, b in pairs]) < 0.65
    assert np.median(_finger_share(random, INDEX)) < np.median(index) - 0.2


def _fused(landmarks_only: tf_keras.Model, scaling: LandmarkScaling) -> tf_keras.Model:
    """A fused model whose landmark branch is `landmarks_only`'s, its image branch random."""
    tf_keras.utils.set_random_seed(0)
    options = TrainingConfig(inputs="both", backbone_weights="none", image_size=96)
    fused = build_classifier(options, 2, scaling)
    for layer in landmarks_only.layers:
        if layer.weights:
            fused.get_layer(layer.name).set_weights(layer.get_weights())
    return fused


def _images(count: int) -> np.ndarray:
    return np.random.default_rng(2).uniform(0, 255, (count, 96, 96, 3)).astype(np.float32)


def test_a_fused_model_gives_the_landmark_branch_its_share_of_the_change():
    """With the image held, the answer moves by the landmark share of the landmark branch's
    move: the same joints, scaled; and without a hand nothing is attributed."""
    landmarks_only, scaling, hands, labels = _trained()
    fused = _fused(landmarks_only, scaling)
    inputs = {**_inputs(hands), features.IMAGE_FEATURE: _images(len(hands))}
    branches = Branches(fused)
    head_inputs = branches.head_inputs(inputs)
    attributions = attribute(branches, head_inputs, hands, np.ones(40), labels)
    alone = _attributions(landmarks_only, hands, labels)
    for mixed, own in zip(attributions, alone, strict=True):
        np.testing.assert_allclose(
            mixed.points, TrainingConfig().landmark_share * own.points, atol=2e-4
        )
    without = [NO_HAND, *hands[1:]]
    assert attribute(branches, head_inputs, without, np.ones(40), labels)[0] is None


def test_the_votes_are_each_branchs_own_answer_and_share():
    landmarks_only, scaling, hands, _ = _trained()
    fused = _fused(landmarks_only, scaling)
    inputs = {**_inputs(hands[:2]), features.IMAGE_FEATURE: _images(2)}
    inputs[features.HAND_FOUND_FEATURE][1] = 0.0
    outputs = branch_outputs(fused)(inputs, training=False).numpy()
    votes = Branches(fused).votes(Branches(fused).head_inputs(inputs), ["a", "b"])
    for vote, row in zip(votes, outputs, strict=True):
        answer, image, hand = row[:2], row[2:4], row[4:6]  # the mix, then each branch's own
        assert vote.probability == pytest.approx(answer.max(), abs=1e-6)
        assert [v.probability for v in vote.votes] == pytest.approx([hand.max(), image.max()])
    hand_vote, image_vote = votes[0].votes
    assert hand_vote.branch == "landmarks" and image_vote.branch == "image"
    assert (hand_vote.share, image_vote.share) == pytest.approx((0.67, 0.33))
    assert votes[0].line() == (
        f"{votes[0].label} {votes[0].probability:.0%} = landmarks {hand_vote.label} "
        f"{hand_vote.probability:.0%} (share 0.67) + image {image_vote.label} "
        f"{image_vote.probability:.0%} (share 0.33)"
    )
    assert votes[1].line().endswith("no hand found, the image branch answered alone")
    only = Branches(landmarks_only).votes(Branches(landmarks_only).head_inputs(inputs), ["a", "b"])
    assert only[0].line().endswith("(landmarks branch: the model's only one)")
    assert only[1].line().endswith("no hand found, the landmark model had nothing to read")
