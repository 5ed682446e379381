"""`signpipe predict` finds the hand itself and feeds a model exactly the inputs it takes;
the model card says what the model was trained on and which signatures it serves."""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from signpipe.components.image_folder_example_gen.hand_analysis import HandAnalyzer
from signpipe.components.serving_pusher.model_card import ModelCard
from signpipe.errors import ConfigError
from signpipe.inference.predict import (
    as_json,
    classify_files,
    reads_hand_crops,
    tflite_predictor,
)
from signpipe.inference.serving_client import (
    DEFAULT_HAND_MIN_CONFIDENCE,
    hand_request,
    rest_instances,
)
from signpipe.models import features
from signpipe.models.preprocessing import decode_and_resize
from tests.hand_images import hand_images

SIZE = 48


class _StubTFLite:
    """Stands in for TFLiteClassifier: keeps the inputs it is given and answers class 1
    ("hand") when hand_found says so, else class 0."""

    def __init__(self, input_names: tuple[str, ...], image_size: int | None):
        self.input_names = input_names
        self.image_size = image_size
        self.given: list[dict[str, np.ndarray]] = []

    def probabilities(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        self.given.append(inputs)
        count = len(next(iter(inputs.values())))
        found = inputs.get(features.HAND_FOUND_FEATURE, np.zeros((count, 1)))[:, 0]
        return np.stack([0.9 - 0.8 * found, 0.1 + 0.8 * found], axis=1)


@pytest.fixture(scope="module")
def analysed(images):
    return hand_images(images, 2)


@pytest.mark.parametrize("inputs", list(features.MODEL_INPUTS))
def test_a_tflite_model_gets_its_inputs_made_from_the_hand_mediapipe_finds(
    analysed, inputs, tmp_path
):
    names = features.MODEL_INPUTS[inputs]
    stub = _StubTFLite(names, SIZE if features.IMAGE_FEATURE in names else None)
    paths = [path for path, _ in analysed] + [str(tmp_path / "gone.png")]
    hands = HandAnalyzer(DEFAULT_HAND_MIN_CONFIDENCE)
    try:
        predictions = classify_files(paths, tflite_predictor(stub, ["none", "hand"]), 3, hands)
    finally:
        hands.close()
    found = [hand.found for _, hand in analysed]
    assert [p.hand_found for p in predictions[:-1]] == found == [True, False, True, False]
    assert "cannot read the file" in predictions[-1].error
    assert [len(batch[names[0]]) for batch in stub.given] == [3, 1]  # batches of 3
    given = {name: np.concatenate([batch[name] for batch in stub.given]) for name in names}
    assert set(given) == set(names)
    if features.IMAGE_FEATURE in names:
        assert given[features.IMAGE_FEATURE].shape == (4, SIZE, SIZE, 3)
        assert 0 <= given[features.IMAGE_FEATURE].min() < given[features.IMAGE_FEATURE].max() <= 255
    if features.LANDMARK_FEATURE in names:
        assert given[features.HAND_FOUND_FEATURE][:, 0].tolist() == [1.0, 0.0, 1.0, 0.0]
        shape = given[features.LANDMARK_FEATURE]
        assert shape.shape == (4, features.LANDMARK_FEATURE_SIZE)
        assert np.abs(shape[[0, 2]]).sum(axis=1).min() > 0 and not shape[[1, 3]].any()
        assert [p.label for p in predictions[:-1]] == ["hand", "none", "hand", "none"]
    rows = json.loads(as_json(predictions))
    assert [row.get("hand_found") for row in rows] == [*found, None]
    assert predictions[0].line().endswith("%, hand found)")
    assert predictions[1].line().endswith("%, no hand found: whole frame)")


def test_a_model_trained_on_whole_frames_gets_whole_frames_even_where_a_hand_is(analysed):
    stub = _StubTFLite(features.MODEL_INPUTS["image"], SIZE)
    paths = [path for path, _ in analysed]
    predictions = classify_files(paths, tflite_predictor(stub, ["none", "hand"]))
    assert [p.hand_found for p in predictions] == [None] * len(paths)
    given = np.concatenate([batch[features.IMAGE_FEATURE] for batch in stub.given])
    frames = [Path(path).read_bytes() for path in paths]
    expected = decode_and_resize(tf.constant(frames), SIZE).numpy()
    np.testing.assert_allclose(given, expected, atol=1e-3)


def test_the_exporters_report_says_whether_a_tflite_file_reads_hand_crops(tmp_path):
    model = tmp_path / "int8.tflite"
    assert reads_hand_crops(str(model))  # no report: the default, a hand-crop model
    report = tmp_path / "tflite_report.json"
    report.write_text(json.dumps({"hand_crop": False}))
    assert not reads_hand_crops(str(model))
    report.write_text(json.dumps({"hand_crop": True}))
    assert reads_hand_crops(str(model))
    report.write_text("{not json")
    with pytest.raises(ConfigError, match=r"cannot read .*tflite_report.json"):
        reads_hand_crops(str(model))


def test_more_classes_than_labels_is_a_clear_error(analysed):
    stub = _StubTFLite(features.MODEL_INPUTS["landmarks"], None)
    path, hand = analysed[0]
    assert hand.found  # the stub answers class 1 for it
    hands = HandAnalyzer(DEFAULT_HAND_MIN_CONFIDENCE)
    try:
        with pytest.raises(ConfigError, match="more classes than the 1 labels"):
            classify_files([path], tflite_predictor(stub, ["none"]), hands=hands)
    finally:
        hands.close()


def test_serving_hands_inputs_keep_the_bytes_and_the_landmarks(analysed):
    images = [b"\x89PNG\x00\x00", b"\xff\xd8\x00"]  # trailing NULs must survive
    hands = [hand for _, hand in analysed[:2]]
    request = hand_request(images, hands)
    assert list(request["image_bytes"]) == images
    assert request["hand_found"].dtype == np.int64 and request["hand_found"].tolist() == [1, 0]
    assert request["hand_landmarks"].shape == (2, features.LANDMARK_VALUES)
    assert request["hand_landmarks"].dtype == np.float32
    assert request["handedness"].tolist() == [hands[0].handedness.encode(), b"none"]
    rows = json.loads(json.dumps(rest_instances(images, hands)))
    assert sorted(rows[0]) == ["hand_found", "hand_landmarks", "handedness", "image_bytes"]
    assert rows[1]["handedness"] == "none" and rows[1]["hand_found"] == 0
    assert rows[1]["image_bytes"] == {"b64": "/9gA"}
    with pytest.raises(ValueError, match="2 images but 1 hand analyses"):
        hand_request(images, hands[:1])


class _Signatures(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(self, values):
        return {"label": values}


def _card(tmp_path, signatures: tuple[str, ...], inputs: str) -> ModelCard:
    module = _Signatures()
    artifact = tmp_path / f"model_{inputs}"
    tf.saved_model.save(
        module, str(artifact / "Format-Serving"), signatures={s: module.serve for s in signatures}
    )
    return ModelCard(
        model_name="signs",
        version=3,
        pushed_at="2026-11-29T22:00:00+00:00",
        pipeline_run_id="run",
        model_artifact=str(artifact),
        classes=["A", "B"],
        data={"counts": {"train": {"A": 3, "B": 4}}},
        metrics={"eval_accuracy": 0.9, "test_accuracy": None, "per_class": {}},
        blessing={"blessed": True, "baseline_model": None},
        training={"inputs": inputs, "backbone": "efficientnet_lite0", "image_size": 96},
    )


def test_the_model_card_says_what_the_model_reads_and_which_signatures_it_serves(tmp_path):
    every = ("serving_default", "serving_images", "serving_hands", "transform_features")
    card = _card(tmp_path, every, "both")
    assert list(card.signatures) == ["serving_default", "serving_hands", "serving_images"]
    saved = json.loads(json.dumps(card.as_dict()))
    assert (
        saved["training"]["inputs"] == "both"
        and "hand_landmarks [N, 63] float32" in (saved["signatures"]["serving_hands"])
    )
    markdown = card.markdown()
    assert "- Trained on: both, the hand crop and MediaPipe's 21 hand landmarks" in markdown
    assert "- Backbone: efficientnet_lite0" in markdown
    assert "- `serving_hands`: image_bytes [N]" in markdown

    landmarks = _card(tmp_path, every, "landmarks").markdown()
    assert "- Trained on: landmarks" in landmarks and "Backbone" not in landmarks

    without_hands = _card(tmp_path, ("serving_default", "serving_images"), "image")
    assert list(without_hands.signatures) == ["serving_default", "serving_images"]
    assert "`serving_hands`" not in without_hands.markdown()
