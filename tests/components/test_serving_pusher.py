"""The TF Serving model directory: versions that only grow, atomic pushes, retention, config."""

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from tfx.types import standard_artifacts

from signpipe.components import model_directory
from signpipe.components.serving_pusher.executor import Executor
from tests.small_runs import stored_artifact


def _model_folder(root: Path, files: int = 120) -> Path:
    """A folder shaped like a SavedModel: many files in sub-folders."""
    for index in range(files):
        path = root / f"variables/part{index % 7}/file{index}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([index % 256]) * 2048)
    (root / "saved_model.pb").write_bytes(b"graph")
    return root


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_versions_only_grow_even_when_the_clock_is_behind(tmp_path):
    assert model_directory.versions(str(tmp_path / "missing")) == []
    assert abs(model_directory.next_version(str(tmp_path)) - time.time()) < 5
    future = 4_000_000_000  # a version stamped by a clock ahead of ours
    (tmp_path / str(future)).mkdir()
    (tmp_path / "tflite").mkdir()
    (tmp_path / ".123.partial").mkdir()
    assert model_directory.versions(str(tmp_path)) == [future]
    assert model_directory.next_version(str(tmp_path)) == future + 1


def test_a_failed_copy_publishes_nothing_and_leaves_no_staging(tmp_path):
    push_root = tmp_path / "model"
    (push_root / "7").mkdir(parents=True)

    def fill(staging: str) -> None:
        (Path(staging) / "saved_model.pb").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        model_directory.publish(str(push_root / "8"), fill)
    assert sorted(p.name for p in push_root.iterdir()) == ["7"]


def test_readers_never_see_a_half_copied_version(tmp_path):
    source = _model_folder(tmp_path / "source")
    expected = _files(source)
    push_root = tmp_path / "model"
    push_root.mkdir()
    seen_incomplete, looks, done = [], [0], threading.Event()

    def reader() -> None:  # what TF Serving's file system poller does, as fast as it can
        while not done.is_set():
            for version in model_directory.versions(str(push_root)):
                looks[0] += 1
                found = _files(push_root / str(version))
                if found != expected:
                    seen_incomplete.append((version, len(found)))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for version in range(1, 6):
            model_directory.publish(
                str(push_root / str(version)),
                lambda staging: model_directory.copy_tree(str(source), staging),
            )
    finally:
        done.set()
        thread.join()
    assert model_directory.versions(str(push_root)) == [1, 2, 3, 4, 5]
    assert looks[0] > 0 and seen_incomplete == []
    assert not [p for p in push_root.iterdir() if p.name.startswith(".")]


def test_prune_keeps_the_newest_versions_and_their_tflite_files(tmp_path):
    for version in (10, 20, 30):
        (tmp_path / str(version)).mkdir()
        (tmp_path / "tflite" / str(version)).mkdir(parents=True)
    assert model_directory.prune(str(tmp_path), 0) == []
    assert model_directory.prune(str(tmp_path), 2) == [10]
    assert model_directory.versions(str(tmp_path)) == [20, 30]
    assert sorted(p.name for p in (tmp_path / "tflite").iterdir()) == ["20", "30"]


def test_models_config_lists_every_model_that_has_a_version(tmp_path):
    (tmp_path / "signs" / "5").mkdir(parents=True)
    (tmp_path / "digits" / "3").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    path = model_directory.write_models_config(str(tmp_path), "/models", 2)
    config = model_directory.read_models_config(path)
    entries = {e.name: e for e in config.model_config_list.config}
    assert sorted(entries) == ["digits", "signs"]
    assert entries["signs"].base_path == "/models/signs"
    assert entries["signs"].model_platform == "tensorflow"
    assert entries["signs"].model_version_policy.latest.num_versions == 2
    local = model_directory.read_models_config(
        model_directory.write_models_config(str(tmp_path), "", 1)
    )
    assert {e.base_path for e in local.model_config_list.config} == {
        str((tmp_path / "digits").resolve()),
        str((tmp_path / "signs").resolve()),
    }
    assert not (tmp_path / "models.config.tmp").exists()


def _push(run, model, serving_root: Path, out: Path, blessed: bool = True, keep: int = 0):
    """Run the pusher's executor on the shared run's artifacts; return the PushedModel."""
    blessing = stored_artifact(run, standard_artifacts.ModelBlessing, "Evaluator")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(out)
    out.mkdir(parents=True)
    Executor().Do(
        {
            "model": [model],
            "model_blessing": [blessing],
            "examples": [
                stored_artifact(run, standard_artifacts.Examples, "ImageFolderExampleGen")
            ],
            "transform_graph": [
                stored_artifact(run, standard_artifacts.TransformGraph, "Transform")
            ],
            "evaluation": [stored_artifact(run, standard_artifacts.ModelEvaluation, "Evaluator")],
        },
        {"pushed_model": [pushed]},
        {
            "serving_root": str(serving_root),
            "model_name": "signs",
            "keep_versions": keep,
            "served_versions": 1,
            "config_base_path": "",
        },
    )
    return pushed


@pytest.mark.slow
def test_the_pusher_adds_one_version_per_new_model_and_none_for_a_retry(blessed_run, tmp_path):
    model = stored_artifact(blessed_run, standard_artifacts.Model, "Trainer")
    serving_root = tmp_path / "serving"
    first = _push(blessed_run, model, serving_root, tmp_path / "push1")
    [version] = model_directory.versions(str(serving_root / "signs"))
    assert first.get_int_custom_property("pushed") == 1
    assert first.get_string_custom_property("pushed_version") == str(version)
    card = json.loads((serving_root / "signs" / str(version) / "model_card.json").read_text())
    assert card["model_artifact"] == model.uri and card["metrics"]["test_accuracy"] is None
    assert (Path(first.uri) / "saved_model.pb").exists()  # the archive copy, as stock Pusher

    retried = _push(blessed_run, model, serving_root, tmp_path / "push2")
    assert retried.get_string_custom_property("pushed_version") == str(version)
    assert model_directory.versions(str(serving_root / "signs")) == [version]

    other = standard_artifacts.Model()  # another training run's model
    other.uri = str(tmp_path / "other_model")
    shutil.copytree(model.uri, other.uri)
    newer = _push(blessed_run, other, serving_root, tmp_path / "push3", keep=1)
    [new_version] = model_directory.versions(str(serving_root / "signs"))
    assert new_version > version
    assert newer.get_string_custom_property("pushed_destination") == str(
        serving_root / "signs" / str(new_version)
    )
    config = model_directory.read_models_config(str(serving_root / "models.config"))
    assert [e.name for e in config.model_config_list.config] == ["signs"]


@pytest.mark.slow
def test_an_unblessed_model_is_not_pushed(blessed_run, tmp_path):
    model = stored_artifact(blessed_run, standard_artifacts.Model, "Trainer")
    pushed = _push(blessed_run, model, tmp_path / "serving", tmp_path / "push", blessed=False)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not (tmp_path / "serving").exists()


def test_docker_compose_serves_what_the_pusher_writes():
    import yaml

    from signpipe.pipeline.configs import ServingConfig

    repo = Path(__file__).resolve().parents[2]
    service = yaml.safe_load((repo / "docker-compose.yml").read_text())["services"]["tf-serving"]
    locked = (repo / "requirements" / "lock.txt").read_text()
    api_version = locked.split("tensorflow-serving-api==")[1].split()[0]
    assert service["image"] == f"tensorflow/serving:{api_version}"
    [volume] = service["volumes"]
    assert volume.split(":")[-2:] == [ServingConfig().config_base_path, "ro"]
    config_file = f"{ServingConfig().config_base_path}/{model_directory.MODELS_CONFIG_FILE}"
    assert f"--model_config_file={config_file}" in service["command"]
    assert {"8500:8500", "8501:8501"} == set(service["ports"])
