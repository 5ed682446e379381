"""The whole pipeline under the local runner: train, evaluate, bless, push, serve raw bytes."""

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from signpipe.components.artifacts import TFLiteModels
from signpipe.components.model_directory import read_models_config
from signpipe.components.tflite_exporter import converters
from signpipe.components.tflite_exporter.executor import Executor
from signpipe.inference import saliency
from signpipe.inference.predict import predict_saved_model, predict_tflite
from signpipe.models.model import HISTORY_FILE
from signpipe.pipeline import local_runner
from signpipe.runs.history import list_runs
from signpipe.runs.report import explanations
from signpipe.runs.report.page import previous_blessed, write_report
from signpipe.runs.store import steps_after
from signpipe.runs.summaries import data_summary, model_summary
from tests.pipeline_steps import DATA_STEPS, MODEL_STEPS
from tests.small_runs import (
    LETTERS,
    NO_TFLITE,
    ONE_TFLITE_VARIANT,
    SMALL_TRAINING,
    small_config,
    stored_artifact,
)

pytestmark = pytest.mark.slow(minutes=7)  # an estimate, to start long groups first


def _versions(config) -> list[str]:
    folder = Path(config.serving_root) / config.serving.model_name
    return sorted(p.name for p in folder.iterdir() if p.name.isdigit()) if folder.exists() else []


def test_blessed_model_is_pushed_and_classifies_raw_image_bytes(blessed_run, images):
    summary = model_summary(blessed_run)
    assert summary.blessed and summary.eval_accuracy >= 0.5
    assert summary.test_accuracy is not None
    assert set(summary.per_class) == {"eval", "test"}
    for classes in summary.per_class.values():
        assert set(classes) == set(LETTERS)
        for precision, recall in classes.values():
            assert 0.0 <= precision <= 1.0 and 0.0 <= recall <= 1.0
    assert "weakest classes on test" in summary.describe()
    [version] = _versions(blessed_run)
    assert summary.pushed_path.rstrip("/").endswith(version)

    model = tf.saved_model.load(summary.pushed_path)
    assert {"serving_default", "serving_images", "transform_features"} <= set(model.signatures)
    files = [sorted((images / letter).iterdir())[0] for letter in LETTERS]
    outputs = model.signatures["serving_images"](
        image_bytes=tf.constant([path.read_bytes() for path in files])
    )
    labels = [label.decode() for label in outputs["label"].numpy()]
    assert set(labels) <= set(LETTERS)
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (4, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert list(outputs["class_index"].numpy()) == list(probabilities.argmax(axis=1))
    np.testing.assert_allclose(outputs["confidence"].numpy(), probabilities.max(axis=1))
    classes = [[name.decode() for name in row] for row in outputs["classes"].numpy()]
    assert classes == [classes[0]] * 4 and sorted(classes[0]) == sorted(LETTERS)
    assert [classes[0][i] for i in outputs["class_index"].numpy()] == labels

    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "image_raw": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[files[0].read_bytes()])
                )
            }
        )
    )
    by_example = model.signatures["serving_default"](
        examples=tf.constant([example.SerializeToString()])
    )
    assert by_example["label"].numpy()[0].decode() == labels[0]


def test_the_summary_names_every_wrong_answer_by_true_and_predicted_class(blessed_run):
    summary = model_summary(blessed_run)
    counts = data_summary(blessed_run).counts
    for split, accuracy in (("eval", summary.eval_accuracy), ("test", summary.test_accuracy)):
        wrong, images = summary.mistakes[split], sum(counts[split].values())
        assert sum(m["images"] for m in wrong) == round((1 - accuracy) * images)
        for mistake in wrong:
            assert mistake["true"] != mistake["predicted"]
            assert {mistake["true"], mistake["predicted"]} <= set(LETTERS)
        assert [m["images"] for m in wrong] == sorted((m["images"] for m in wrong), reverse=True)


def test_the_push_has_a_model_card_and_a_models_config(blessed_run):
    pushed = Path(model_summary(blessed_run).pushed_path)
    card = json.loads((pushed / "model_card.json").read_text())
    assert card["version"] == int(pushed.name) and card["model_name"] == "signpipe"
    assert card["pipeline_run_id"] and card["model_artifact"].startswith(blessed_run.home)
    assert sorted(card["classes"]) == sorted(LETTERS)
    assert card["data"]["counts"] == data_summary(blessed_run).counts
    assert sum(card["data"]["counts"]["train"].values()) > 0
    assert card["metrics"]["eval_accuracy"] == model_summary(blessed_run).eval_accuracy
    assert card["metrics"]["test_accuracy"] == model_summary(blessed_run).test_accuracy
    for split in ("eval", "test"):
        per_class = card["metrics"]["per_class" if split == "eval" else "per_class_test"]
        assert per_class == {
            label: {"precision": precision, "recall": recall}
            for label, (precision, recall) in model_summary(blessed_run).per_class[split].items()
        }
    assert card["blessing"] == {"blessed": True, "baseline_model": None, "baseline_found_in": None}
    assert card["training"]["backbone"] == "efficientnet_lite0"
    page = (pushed / "model_card.md").read_text()
    assert "Test accuracy" in page and "| precision (test) | recall (test) |" in page

    config = read_models_config(str(Path(blessed_run.serving_root) / "models.config"))
    [entry] = config.model_config_list.config
    assert (entry.name, entry.base_path) == ("signpipe", "/models/signpipe")
    assert entry.model_version_policy.latest.num_versions == 2
    assert not [p for p in pushed.parent.iterdir() if p.name.endswith(".partial")]


def test_blessed_tflite_variants_are_pushed_beside_the_saved_model(blessed_run, images):
    [version] = _versions(blessed_run)
    folder = Path(blessed_run.serving_root) / blessed_run.serving.model_name / "tflite" / version
    report = json.loads((folder / "tflite_report.json").read_text())
    variants = SMALL_TRAINING["tflite.variants"]
    assert set(report["variants"]) == set(variants)
    blessed = {name for name, result in report["variants"].items() if result["blessed"]}
    assert blessed == set(variants)  # the bound is wide open in this test
    assert sorted(p.name for p in folder.glob("*.tflite")) == sorted(f"{v}.tflite" for v in blessed)
    # Class-index order (TFT's vocabulary), the order the model's outputs follow.
    assert sorted((folder / "labels.txt").read_text().split()) == sorted(LETTERS)
    for result in report["variants"].values():
        assert 0.0 <= result["accuracy"] <= 1.0 and result["size_bytes"] > 0
        assert result["latency"]["one_thread"]["median_ms"] > 0
    for quantized in ("int8", "qat_int8"):  # integer models still say what the float one says
        assert report["variants"][quantized]["agreement"] >= 2 / 3, report["variants"][quantized]
    assert report["variants"]["int8"]["float_ops"] == 0
    assert report["variants"]["qat_int8"]["float_ops"] == 0
    assert (
        report["variants"]["int8"]["size_bytes"] < report["variants"]["float32"]["size_bytes"] / 2
    )

    files = [str(sorted((images / letter).iterdir())[-1]) for letter in LETTERS]
    predictions = predict_tflite(str(folder / "int8.tflite"), [*files, str(folder / "labels.txt")])
    assert all(p.label in LETTERS and 0 < p.confidence <= 1 for p in predictions[:-1])
    assert predictions[-1].error and predictions[-1].label is None
    # labels.txt maps indices as the SavedModel does, and both find the hand and crop it the
    # same way: the float file names the same labels as the SavedModel's serving_hands.
    served = predict_saved_model(model_summary(blessed_run).pushed_path, files)
    tflite = predict_tflite(str(folder / "float32.tflite"), files)
    assert [p.hand_found for p in tflite] == [p.hand_found for p in served]
    assert any(p.hand_found for p in served)
    assert [p.label for p in tflite] == [p.label for p in served]


def test_training_history_has_both_phases(blessed_run):
    history = json.loads((Path(model_summary(blessed_run).pushed_path) / HISTORY_FILE).read_text())
    assert len(history["head"]["loss"]) >= 1 and len(history["finetune"]["val_loss"]) >= 1
    assert history["finetune_unfrozen_layers"] > 0


def _latest_states(config) -> dict[str, str]:
    runs = defaultdict(list)
    for execution in steps_after(config):
        runs[execution.run_id].append(execution)
    return {
        e.component: e.state
        for e in runs[max(runs)]
        if e.component != "latest_blessed_model_resolver"
    }


ALL_STEPS = {*DATA_STEPS, *MODEL_STEPS}


def test_a_rerun_with_only_report_code_changed_reuses_every_step_and_pushes_nothing(blessed_run):
    # TFX versions the Transform/Trainer user module by every .py in its folder (models/):
    # report-only code lives elsewhere, so editing it must re-run neither.
    versions = _versions(blessed_run)
    report_module = Path(saliency.__file__)
    original = report_module.read_text(encoding="utf-8")
    try:
        report_module.write_text(original + "\n# an edit to report-only code\n", encoding="utf-8")
        local_runner.run(blessed_run)
    finally:
        report_module.write_text(original, encoding="utf-8")
    states = _latest_states(blessed_run)
    assert set(states) == ALL_STEPS
    assert set(states.values()) == {"CACHED"}, states
    assert _versions(blessed_run) == versions


def test_a_new_model_is_compared_with_the_last_blessed_one(blessed_run, monkeypatch):
    # A different seed trains a new model; requiring it to beat the blessed one by more
    # than 100 points can only fail if that blessed model really is its baseline.
    before = _versions(blessed_run)
    config = small_config(
        Path(blessed_run.home),
        Path(blessed_run.data_root),
        **{
            "training.seed": 1,
            "training.head_epochs": 1,  # any new model will do
            "training.finetune_epochs": 0,
            "evaluation.max_accuracy_drop": -1.0,
            **NO_TFLITE,
        },
    )
    local_runner.run(config)
    summary = model_summary(config)
    assert not summary.blessed and summary.pushed_path is None
    assert any("against the last blessed model" in r for r in summary.why_not_blessed), summary
    assert _versions(config) == before
    runs = list_runs(config)
    # The saliency and t-SNE sections cost a minute here; test_run_report covers them.
    monkeypatch.setattr(explanations, "error_analysis", lambda *args: None)
    monkeypatch.setattr(explanations, "population_view", lambda *args: None)
    page = Path(write_report(config)).read_text(encoding="utf-8")
    assert "Not blessed: not pushed" in page and "against the last blessed model" in page
    baseline = previous_blessed(runs, runs[0])
    assert baseline is not None and baseline.model_id != runs[0].model_id
    assert f"run {baseline.run_id}: eval" in page


def test_a_model_below_the_floor_is_never_pushed(blessed_run):
    before = _versions(blessed_run)
    config = small_config(
        Path(blessed_run.home),
        Path(blessed_run.data_root),
        **{"evaluation.accuracy_floor": 1.01, **ONE_TFLITE_VARIANT},
    )
    local_runner.run(config)
    summary = model_summary(config)
    assert not summary.blessed and summary.pushed_path is None
    assert any("below the floor" in reason for reason in summary.why_not_blessed)
    assert _versions(config) == before
    tflite = Path(config.serving_root) / config.serving.model_name / "tflite"
    assert sorted(p.name for p in tflite.iterdir()) == before  # no TFLite push either
    assert "not blessed" in summary.tflite["not_pushed_because"]
    assert all(
        os.path.isdir(os.path.join(config.serving_root, config.serving.model_name, version))
        for version in before
    )


def test_a_variant_that_fails_leaves_the_others_and_nothing_unblessed_is_pushed(
    blessed_run, tmp_path, monkeypatch
):
    real_convert = converters.convert

    def convert(saved_model_dir, variant, representative=None):
        if variant == "int8":
            raise converters.ConversionError("int8: no integer kernel for op(s) FAKE_OP")
        return real_convert(saved_model_dir, variant, representative)

    monkeypatch.setattr(converters, "convert", convert)
    output = TFLiteModels()
    output.uri = str(tmp_path / "out")
    os.makedirs(output.uri)
    Executor().Do(
        {
            "model": [stored_artifact(blessed_run, standard_artifacts.Model, "Trainer")],
            "examples": [
                stored_artifact(blessed_run, standard_artifacts.Examples, "ImageFolderExampleGen")
            ],
            "transform_graph": [
                stored_artifact(blessed_run, standard_artifacts.TransformGraph, "Transform")
            ],
            "pushed_model": [],  # the SavedModel was not pushed
        },
        {"tflite_models": [output]},
        {
            "variants": "float32,int8",
            "representative_images": 8,
            "qat_epochs": 0,
            "qat_learning_rate": 1e-5,
            "batch_size": 8,
            "max_drop_from_saved_model": 1.0,
            "latency_runs": 2,
            "push_root": str(tmp_path / "push"),
        },
    )
    report = json.loads((tmp_path / "out" / "tflite_report.json").read_text())
    assert report["hand_crop"] is True  # the small run ingests with hand analysis
    assert report["variants"]["int8"]["status"] == "failed"
    assert "FAKE_OP" in report["variants"]["int8"]["why"]
    assert report["variants"]["float32"]["status"] == "ok"
    assert report["variants"]["float32"]["blessed"]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.tflite")) == ["float32.tflite"]
    assert report["pushed_to"] is None and "not blessed" in report["not_pushed_because"]
    assert not (tmp_path / "push").exists()
    assert "FAKE_OP" in (tmp_path / "out" / "tflite_report.html").read_text()
