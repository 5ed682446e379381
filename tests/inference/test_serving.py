"""The serving contract end to end: the pushed model behind TF Serving's gRPC and REST APIs.

By default the server is tests/fake_tf_serving.py, in this process. To run the same tests
against a real TF Serving, start it on a folder with `--model_config_file=/models/models.config
--model_config_file_poll_wait_seconds=2` and set
SIGNPIPE_TF_SERVING=GRPC_HOST:PORT,REST_HOST:PORT and SIGNPIPE_TF_SERVING_ROOT=<that folder>.
"""

import base64
import dataclasses
import json
import os
import re
import shutil
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from signpipe import cli
from signpipe.components import model_directory
from signpipe.components.image_folder_example_gen.hand_analysis import NO_HAND, HandFacts
from signpipe.errors import ServingError
from signpipe.inference.predict import (
    ImageInput,
    classify_encoded,
    predict_saved_model,
    predict_server,
    server_predictor,
)
from signpipe.inference.serving_client import ServingClient, ServingOptions, find_hand
from signpipe.models import features
from signpipe.models.features import HANDS_SIGNATURE
from signpipe.models.signatures import HANDS_INPUT_SIGNATURE
from tests.conftest import encode_image
from tests.fake_tf_serving import FakeTFServing
from tests.hand_images import hand_images
from tests.small_runs import LETTERS

pytestmark = pytest.mark.slow
MODEL = "signs_under_test"
ECHO_MODEL = "hands_echo"
TRANSPORTS = ("grpc", "rest")
OUTPUT_ROW = ["label", "class_index", "confidence", "probabilities", "classes", "hand_found"]


class _OldModel(tf.Module):
    """Version 1: a model that says "old" to everything, so version selection shows."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve(self, image_bytes):
        count = tf.shape(image_bytes)[0]
        return {
            "label": tf.fill([count], "old"),
            "class_index": tf.zeros([count], tf.int64),
            "confidence": tf.ones([count]),
            "probabilities": tf.ones([count, 1]),
            "classes": tf.fill([count, 1], "old"),
        }


class _HandEcho(tf.Module):
    """A serving_hands model that answers with what it was sent (label: handedness,
    class_index: hand_found, confidence: the image's byte count, probabilities: landmarks)."""

    @tf.function(input_signature=HANDS_INPUT_SIGNATURE)
    def serve(self, image_bytes, hand_found, hand_landmarks, handedness):
        count = tf.shape(image_bytes)[0]
        return {
            "label": handedness,
            "class_index": hand_found,
            "confidence": tf.cast(tf.strings.length(image_bytes), tf.float32),
            "probabilities": hand_landmarks,
            "classes": tf.fill([count, features.LANDMARK_VALUES], "landmark"),
        }


@dataclasses.dataclass
class Served:
    grpc: str
    rest: str
    model_dir: str  # the pushed SavedModel, served as version 2
    fake: FakeTFServing | None  # None: a real TF Serving


def _publish(serving_root: Path, pushed_path: str) -> None:
    push_root = serving_root / MODEL
    if push_root.exists():
        shutil.rmtree(push_root)
    model = _OldModel()
    model_directory.publish(
        str(push_root / "1"),
        lambda staging: tf.saved_model.save(
            model, staging, signatures={"serving_images": model.serve}
        ),
    )
    model_directory.publish(
        str(push_root / "2"),
        lambda staging: model_directory.copy_tree(pushed_path, staging),
    )
    echo_root = serving_root / ECHO_MODEL
    if echo_root.exists():
        shutil.rmtree(echo_root)
    echo = _HandEcho()
    model_directory.publish(
        str(echo_root / "1"),
        lambda staging: tf.saved_model.save(
            echo, staging, signatures={HANDS_SIGNATURE: echo.serve}
        ),
    )
    model_directory.write_models_config(str(serving_root), "/models", served_versions=2)


def _wait_until_served(rest: str, version: int, seconds: float = 120) -> None:
    """A real server loads new versions on its own schedule: wait for it."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{rest}/v1/models/{MODEL}", timeout=5) as reply:
                states = json.loads(reply.read())["model_version_status"]
            if any(s["version"] == str(version) and s["state"] == "AVAILABLE" for s in states):
                return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"TF Serving at {rest} did not load {MODEL} version {version}")


@pytest.fixture(scope="module")
def served(pushed_model, tmp_path_factory):
    real = os.environ.get("SIGNPIPE_TF_SERVING")
    if real:
        grpc_address, rest_address = real.split(",")
        _publish(Path(os.environ["SIGNPIPE_TF_SERVING_ROOT"]), pushed_model)
        _wait_until_served(rest_address, 2)
        yield Served(grpc_address, rest_address, pushed_model, None)
        return
    serving_root = tmp_path_factory.mktemp("serving")
    _publish(serving_root, pushed_model)
    with FakeTFServing(str(serving_root)) as fake:
        yield Served(fake.grpc_address, fake.rest_address, pushed_model, fake)


def _options(served: Served, transport: str, **overrides) -> ServingOptions:
    rest = transport == "rest"
    values = {"model_name": MODEL, "rest": rest, "backoff": 0.01, "timeout": 30.0, **overrides}
    return ServingOptions(address=served.rest if rest else served.grpc, **values)


@pytest.fixture(scope="module")
def image_files(images) -> list[str]:
    return [str(path) for letter in LETTERS for path in sorted((images / letter).iterdir())[:2]]


@pytest.fixture(scope="module")
def analysed(images) -> list[tuple[str, HandFacts]]:
    """Three generated images where MediaPipe finds the hand and three where it does not."""
    return hand_images(images, 3)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_client_sends_what_mediapipe_finds_to_serving_hands(served, transport, analysed):
    images = [Path(path).read_bytes() for path, _ in analysed]
    options = _options(served, transport, model_name=ECHO_MODEL, batch_size=4)
    with ServingClient(options) as client:
        assert client.signature == HANDS_SIGNATURE
        rows = client.predict(images)
    assert len(rows) == len(analysed)
    for row, image, (_, hand) in zip(rows, images, analysed, strict=True):
        assert row["hand_found"] is hand.found and row["class_index"] == int(hand.found)
        assert row["label"] == hand.handedness
        assert row["confidence"] == len(image)  # the bytes arrived whole (base64 over REST)
        np.testing.assert_allclose(row["probabilities"], hand.landmarks, rtol=1e-6, atol=1e-7)


def test_a_rest_consumer_sends_the_four_inputs_as_the_readme_shows(served, analysed):
    """The JSON another language sends: what README "Serving" documents."""
    path, hand = next(pair for pair in analysed if pair[1].found)
    body = {
        "signature_name": "serving_hands",
        "instances": [
            {
                "image_bytes": {"b64": base64.b64encode(Path(path).read_bytes()).decode()},
                "hand_found": 1,
                "hand_landmarks": list(hand.landmarks),
                "handedness": hand.handedness,
            }
        ],
    }
    request = urllib.request.Request(
        f"http://{served.rest}/v1/models/{MODEL}:predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        [row] = json.loads(reply.read())["predictions"]
    with ServingClient(_options(served, "rest")) as client:
        [expected] = client.predict([Path(path).read_bytes()])
    assert expected["hand_found"] is True
    assert row["label"] == expected["label"] and row["label"] in LETTERS
    assert row["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_served_model_answers_as_the_saved_model_does_in_process(
    served, transport, image_files
):
    remote = predict_server(_options(served, transport, batch_size=3), image_files)
    local = predict_saved_model(served.model_dir, image_files)
    assert [p.image for p in remote] == image_files
    assert [p.label for p in remote] == [p.label for p in local]
    assert {p.label for p in remote} <= set(LETTERS) and not any(p.error for p in remote)
    # The pushed model has serving_hands: both ran MediaPipe on every image.
    assert [p.hand_found for p in remote] == [p.hand_found for p in local]
    assert all(isinstance(p.hand_found, bool) for p in remote)
    for answer, expected in zip(remote, local, strict=True):
        assert answer.class_index == expected.class_index
        assert answer.confidence == pytest.approx(expected.confidence, abs=1e-5)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_output_of_the_contract_comes_back(served, transport, image_files):
    with ServingClient(_options(served, transport)) as client:
        [row] = client.predict([Path(image_files[0]).read_bytes()])
    assert sorted(row) == sorted(OUTPUT_ROW) and isinstance(row["hand_found"], bool)
    assert sorted(row["classes"]) == sorted(LETTERS)
    assert row["classes"][row["class_index"]] == row["label"]
    assert sum(row["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert max(row["probabilities"]) == pytest.approx(row["confidence"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_pinned_version_answers_and_an_unserved_one_is_named(served, transport, image_files):
    files = image_files[:3]
    old = predict_server(_options(served, transport, version=1), files)
    assert [p.label for p in old] == ["old"] * 3
    assert [p.hand_found for p in old] == [None] * 3  # serving_images only: no hand looked for
    pinned = predict_server(_options(served, transport, version=2), files)
    newest = predict_server(_options(served, transport), files)
    assert [p.label for p in pinned] == [p.label for p in newest] != ["old"] * 3
    assert [p.hand_found for p in pinned] == [p.hand_found for p in newest] != [None] * 3
    with pytest.raises(ServingError) as error:
        predict_server(_options(served, transport, version=7), files)
    message = str(error.value)
    address = served.rest if transport == "rest" else served.grpc
    assert address in message and f"{MODEL} version 7" in message
    assert "NOT_FOUND" in message or "HTTP 404" in message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_missing_model_is_a_clear_error(served, transport, image_files):
    with pytest.raises(ServingError, match=r"model no_such_model: (NOT_FOUND|HTTP 404)"):
        predict_server(_options(served, transport, model_name="no_such_model"), image_files[:1])


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_that_is_down_fails_after_the_configured_retries(transport, image_files):
    address = f"127.0.0.1:{_closed_port()}"
    options = ServingOptions(
        address, MODEL, rest=transport == "rest", retries=2, backoff=0.01, timeout=5
    )
    started = time.monotonic()
    with pytest.raises(ServingError) as error:
        predict_server(options, image_files[:2])
    message = str(error.value)
    assert f"server {address} is unavailable for model {MODEL} after 3 attempt(s)" in message
    assert time.monotonic() - started >= 0.01 + 0.02  # it backed off between attempts


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_that_is_starting_is_retried_with_back_off(served, transport, image_files):
    if served.fake is None:
        pytest.skip("needs the in-process server to make requests fail on purpose")
    before = served.fake.requests
    served.fake.fail_next(2)
    answers = predict_server(_options(served, transport, retries=3), image_files[:2])
    assert all(p.label in LETTERS for p in answers)
    assert served.fake.requests - before == 4  # metadata: 2 failures and an answer; predict
    served.fake.fail_next(5)
    try:
        with pytest.raises(ServingError, match="after 2 attempt"):
            predict_server(_options(served, transport, retries=1), image_files[:2])
    finally:
        served.fake.fail_next(0)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_slower_than_the_timeout_is_a_clear_error(served, transport, image_files):
    if served.fake is None:
        pytest.skip("needs the in-process server to slow it down on purpose")
    served.fake.delay(1.5)
    try:
        with pytest.raises(ServingError, match=f"model {MODEL}: DEADLINE_EXCEEDED"):
            predict_server(_options(served, transport, timeout=0.3), image_files[:1])
    finally:
        served.fake.delay(0)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bad_images_in_a_batch_get_their_own_errors_and_the_rest_answers(
    served, transport, image_files, tmp_path
):
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(encode_image("JPEG", size=(80, 80))[:300])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    files = [image_files[0], str(truncated), str(text), str(tmp_path / "gone.png"), image_files[7]]
    answers = predict_server(_options(served, transport), files)
    assert [p.image for p in answers] == files
    assert answers[0].label in LETTERS and answers[4].label in LETTERS
    assert "truncated or corrupt" in answers[1].error
    assert "not an image" in answers[2].error
    assert "cannot read the file" in answers[3].error

    # Bytes that pass a local check but not the model's decoder: the server rejects the
    # batch, and the client narrows it down to the bad image.
    good = Path(image_files[0]).read_bytes()
    fake_png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    with ServingClient(_options(served, transport)) as client:
        hand = find_hand(client.hand_analyzer, good)
        batch = [ImageInput(good, hand), ImageInput(fake_png, NO_HAND), ImageInput(good, hand)]
        results = dict(classify_encoded(list(enumerate(batch)), server_predictor(client)))
    assert results[0].label == results[2].label == answers[0].label
    assert results[0].hand_found is hand.found
    assert results[1].label is None and "the model cannot decode it" in results[1].error


def test_predict_command_with_a_server_and_with_a_model_folder(served, image_files, capsys):
    broken = image_files[0] + ".missing"
    server = ["predict", "--server", served.grpc, "--model-name", MODEL, "--json"]
    code = cli.main([*server, image_files[0], broken])
    out = capsys.readouterr()
    rows = json.loads(out.out)
    assert code == 1 and "1 of 2 image(s) could not be classified" in out.err
    assert rows[0]["label"] in LETTERS and "cannot read the file" in rows[1]["error"]
    assert isinstance(rows[0]["hand_found"], bool) and "hand_found" not in rows[1]

    version_folder = Path(served.model_dir)
    assert cli.main(["predict", "--model-dir", str(version_folder.parent), image_files[0]]) == 0
    line = capsys.readouterr().out.strip()
    answer = r"\S+ \(\d+\.\d%, (hand found|no hand found: whole frame)\)"
    assert re.fullmatch(re.escape(f"{image_files[0]}: ") + answer, line), line
    assert cli.main(["predict", "--model-dir", str(version_folder / "variables"), image_files[0]])
    assert "no SavedModel in" in capsys.readouterr().err
