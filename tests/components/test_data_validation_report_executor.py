"""The DataValidationReport: its plain report builder, and its executor on hand-made artifacts."""

import json

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts

from signpipe.components import ingestion_report
from signpipe.components.artifacts import BASELINE_SPAN_PROPERTY, DataReport
from signpipe.components.data_validation_report import build_report as br
from signpipe.components.data_validation_report import executor as dvr
from signpipe.models import features
from tests.conftest import encode_image

BOX = [0.1, 0.2, 0.6, 0.7]
SMALL = "/data/A/small.png"
BROKEN = {"path": "/data/B/broken.jpg", "reason": "truncated or corrupt image: broken data"}
# split -> (label, (width, height), hand found) of each example; C is new in eval.
ROWS = {
    "train": [
        ("A", (20, 16), 1),
        ("A", (40, 40), 1),
        ("A", (40, 40), 0),
        ("B", (40, 40), 1),
        ("B", (40, 40), 0),
        ("B", (40, 40), 0),
    ],
    "eval": [("A", (40, 40), 1), ("B", (40, 40), 0), ("C", (40, 40), 0)],
}
LIMITS = br.Limits(
    max_class_imbalance=5.0,
    min_image_side=32,
    min_images_per_class=1,
    min_hand_detection_rate=0.1,
    samples_per_class=2,
)
PROPERTIES = {
    dvr.MAX_CLASS_IMBALANCE_KEY: LIMITS.max_class_imbalance,
    dvr.MIN_IMAGE_SIDE_KEY: LIMITS.min_image_side,
    dvr.MIN_IMAGES_PER_CLASS_KEY: LIMITS.min_images_per_class,
    dvr.MIN_HAND_DETECTION_RATE_KEY: LIMITS.min_hand_detection_rate,
    dvr.SAMPLES_PER_CLASS_KEY: LIMITS.samples_per_class,
}


def _path(split: str, label: str, index: int, size: tuple[int, int]) -> str:
    return SMALL if size[1] < 32 else f"/data/{label}/{split}{index}.png"


def _rows(split: str) -> list[dict]:
    """The examples of one split as the rows iter_examples yields (every feature it reads)."""
    return [
        {
            features.LABEL_KEY: label.encode(),
            features.IMAGE_KEY: encode_image("PNG", size=size, seed=i),
            features.SOURCE_PATH_KEY: _path(split, label, i, size).encode(),
            features.HEIGHT_KEY: size[1],
            features.WIDTH_KEY: size[0],
            features.HAND_FOUND_KEY: found,
            features.HAND_BOX_KEY: BOX if found else [0.0, 0.0, 1.0, 1.0],
        }
        for i, (label, size, found) in enumerate(ROWS[split])
    ]


def _read_rows(split: str, names: tuple[str, ...], whole: tuple[str, ...] = ()):
    """A RowReader over the in-memory rows."""
    for row in _rows(split):
        yield {name: row[name] for name in names}


def _statistics(labels: list[str]):
    frame = pd.DataFrame({features.LABEL_KEY: labels})
    return tfdv.generate_statistics_from_dataframe(frame)


@pytest.fixture(scope="module")
def stats_by_split() -> dict:
    """TFDV statistics of each split's label, height and width."""
    return {
        split: tfdv.generate_statistics_from_dataframe(
            pd.DataFrame(
                {
                    features.LABEL_KEY: [label for label, _, _ in rows],
                    features.HEIGHT_KEY: [size[1] for _, size, _ in rows],
                    features.WIDTH_KEY: [size[0] for _, size, _ in rows],
                }
            )
        )
        for split, rows in ROWS.items()
    }


@pytest.fixture(scope="module")
def anomalies_by_split(stats_by_split) -> dict:
    """TFDV's validation of each split against the schema of train (C is unexpected in eval)."""
    schema = tfdv.infer_schema(stats_by_split["train"])
    return {
        split: tfdv.validate_statistics(stats, schema) for split, stats in stats_by_split.items()
    }


INGESTION = {
    "data_root": "/data",
    "labels": ["A", "B", "C"],
    "split_names": ["train", "eval"],
    "split_by": "label (stratified)",
    "groups": {},
    "test_groups": [],
    "unknown_test_groups": [],
    "folds": 0,
    "counts": {"train": {"A": 3, "B": 3}, "eval": {"A": 1, "B": 1, "C": 1}},
    "hands_found": {"train": 3, "eval": 1},
    "quarantined": [BROKEN],
    "duplicates": [],
    "totals": {"examples": 9, "quarantined": 1, "duplicates_dropped": 0, "hands_found": 4},
}


def _keys(findings) -> list[tuple[str, str, str]]:
    return [(f.split, f.field, f.severity) for f in findings]


def test_build_report_collects_every_check_in_order(stats_by_split, anomalies_by_split):
    page = br.build_report(
        INGESTION, stats_by_split, anomalies_by_split, _read_rows, LIMITS, 3, "/examples/7"
    )
    assert _keys(page.findings) == [
        ("train", "height/width", "error"),
        ("eval", "label", "error"),
        ("train", "label", "error"),  # C missing from train
    ]
    small = page.findings[0]
    assert "1 image(s) in 'train' have a side under 32 px: /data/A/small.png." in small.detail
    assert "C" in page.findings[1].detail
    assert page.drift_verdict == br.NOT_COMPARED
    assert page.hands_found == "44% (train 50%, eval 33%)"
    for shown in (BROKEN["path"], BROKEN["reason"], "/examples/7", "44% (train 50%, eval 33%)"):
        assert shown in page.html


def test_small_images_are_read_only_for_splits_whose_statistics_show_them(
    stats_by_split, anomalies_by_split
):
    asked = []

    def reader(split, names, whole=()):
        asked.append((split, names))
        return _read_rows(split, names, whole)

    br.build_report(INGESTION, stats_by_split, anomalies_by_split, reader, LIMITS, 0, "/e")
    side_names = (features.HEIGHT_KEY, features.WIDTH_KEY, features.SOURCE_PATH_KEY)
    assert [split for split, names in asked if names == side_names] == ["train"]


def test_samples_stop_at_the_quota_per_label():
    rows = [
        {features.LABEL_KEY: label.encode(), features.IMAGE_KEY: label.encode() + bytes([i])}
        for i, label in enumerate("AABAAB")
    ]
    assert br.sample_images(rows, ["A", "B", "Z"], 1) == {"A": [b"A\x00"], "B": [b"B\x02"], "Z": []}
    assert br.sample_images(rows, ["A"], 2) == {"A": [b"A\x00", b"A\x01"]}  # stops after A's two


def test_small_images_list_at_most_twenty_but_count_all():
    rows = [
        {
            features.HEIGHT_KEY: 10,
            features.WIDTH_KEY: 100,
            features.SOURCE_PATH_KEY: f"/d/{i}.png".encode(),
        }
        for i in range(25)
    ]
    rows.append({features.HEIGHT_KEY: 64, features.WIDTH_KEY: 64, features.SOURCE_PATH_KEY: b"/ok"})
    offenders, total = br.small_images(rows, 32)
    assert total == 25 and offenders == [f"/d/{i}.png" for i in range(20)]


def test_span_drift_without_a_previous_span_says_why():
    drift = br.span_drift(4, {}, None, {"train": object()}, {"train_train": object()})
    assert drift.previous_span is None and drift.previous == {} and drift.comparisons == {}
    assert drift.why_none.startswith("span 4 is the first span ingested")


def _feature(value: bytes | int | list[float]) -> tf.train.Feature:
    if isinstance(value, bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    if isinstance(value, list):
        return tf.train.Feature(float_list=tf.train.FloatList(value=value))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _examples(tmp_path, span: int) -> standard_artifacts.Examples:
    """An Examples folder like ImageFolderExampleGen's: GZIP TFRecords and the report."""
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(list(ROWS))
    examples.set_int_custom_property("span", span)
    for split in ROWS:
        folder = tmp_path / "examples" / f"Split-{split}"
        folder.mkdir(parents=True)
        with tf.io.TFRecordWriter(str(folder / "data.tfrecord.gz"), "GZIP") as writer:
            for row in _rows(split):
                feature = {name: _feature(value) for name, value in row.items()}
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
    ingestion_report.write_report(examples.uri, INGESTION)
    return examples


def _split_artifact(artifact, folder, files: dict[str, tuple[str, bytes]]):
    """An artifact in `folder` whose split sub-folders hold one file each."""
    artifact.uri = str(folder)
    artifact.split_names = artifact_utils.encode_split_names(list(files))
    for split, (name, content) in files.items():
        (folder / f"Split-{split}").mkdir(parents=True)
        (folder / f"Split-{split}" / name).write_bytes(content)
    return artifact


def _inputs(tmp_path, stats_by_split, anomalies_by_split, span: int = 0) -> dict:
    stats = {s: ("FeatureStats.pb", p.SerializeToString()) for s, p in stats_by_split.items()}
    found = {s: ("SchemaDiff.pb", p.SerializeToString()) for s, p in anomalies_by_split.items()}
    return {
        "examples": [_examples(tmp_path, span)],
        "statistics": [
            _split_artifact(standard_artifacts.ExampleStatistics(), tmp_path / "stats", stats)
        ],
        "anomalies": [
            _split_artifact(standard_artifacts.ExampleAnomalies(), tmp_path / "anomalies", found)
        ],
    }


def _run(input_dict: dict, tmp_path) -> DataReport:
    report = DataReport()
    report.uri = str(tmp_path / "report")  # not made: the executor makes it
    dvr.Executor().Do(input_dict, {"report": [report]}, PROPERTIES)
    return report


def test_executor_writes_the_page_findings_and_properties(
    tmp_path, stats_by_split, anomalies_by_split
):
    report = _run(_inputs(tmp_path, stats_by_split, anomalies_by_split), tmp_path)
    findings = json.loads((tmp_path / "report" / DataReport.FINDINGS_FILE).read_text())
    assert [(f["split"], f["field"], f["severity"]) for f in findings] == [
        ("train", "height/width", "error"),
        ("eval", "label", "error"),
        ("train", "label", "error"),
    ]
    assert SMALL in findings[0]["detail"]  # found by reading the examples back
    assert report.get_int_custom_property("anomalies") == 3
    assert report.get_int_custom_property("errors") == 3
    assert report.get_string_custom_property(DataReport.DRIFT_PROPERTY) == br.NOT_COMPARED
    hands = report.get_string_custom_property(DataReport.HANDS_PROPERTY)
    assert hands == "44% (train 50%, eval 33%)"
    html = (tmp_path / "report" / DataReport.PAGE_FILE).read_text()
    for shown in (BROKEN["path"], BROKEN["reason"], str(tmp_path / "examples"), SMALL):
        assert shown in html


def test_executor_compares_with_the_previous_span(tmp_path, stats_by_split, anomalies_by_split):
    inputs = _inputs(tmp_path, stats_by_split, anomalies_by_split, span=2)
    drift = standard_artifacts.ExampleAnomalies()
    drift.uri = str(tmp_path / "drift")
    drift.split_names = artifact_utils.encode_split_names(["train_train"])
    drift.set_int_custom_property(BASELINE_SPAN_PROPERTY, 1)
    (tmp_path / "drift" / "SplitPair-train_train").mkdir(parents=True)
    distance = anomalies_pb2.Anomalies()
    info = distance.anomaly_info["brightness"]
    info.severity = anomalies_pb2.AnomalyInfo.ERROR
    info.short_description = "high Linfty distance"
    info.description = "brightness moved"
    (tmp_path / "drift" / "SplitPair-train_train" / "SchemaDiff.pb").write_bytes(
        distance.SerializeToString()
    )
    previous = {"train": ("FeatureStats.pb", _statistics(["A", "B"]).SerializeToString())}
    baseline = _split_artifact(standard_artifacts.ExampleStatistics(), tmp_path / "base", previous)
    report = _run({**inputs, "drift": [drift], "baseline_statistics": [baseline]}, tmp_path)
    findings = json.loads((tmp_path / "report" / DataReport.FINDINGS_FILE).read_text())
    assert [(f["split"], f["field"], f["short"]) for f in findings[3:]] == [
        ("train_train", "brightness", "drift against span 1: high Linfty distance"),
        ("(span)", "label", "new class(es)"),
    ]
    assert "['C']" in findings[-1]["detail"]
    verdict = report.get_string_custom_property(DataReport.DRIFT_PROPERTY)
    assert verdict.startswith("span 2 against span 1: ")
    assert "brightness (high Linfty distance)" in verdict


def test_executor_on_the_first_span_says_there_is_nothing_to_compare(
    tmp_path, stats_by_split, anomalies_by_split
):
    inputs = _inputs(tmp_path, stats_by_split, anomalies_by_split, span=1)
    drift = standard_artifacts.ExampleAnomalies()
    drift.uri = str(tmp_path / "drift")
    drift.split_names = artifact_utils.encode_split_names([])
    drift.set_int_custom_property(BASELINE_SPAN_PROPERTY, -1)
    report = _run({**inputs, "drift": [drift]}, tmp_path)
    assert report.get_string_custom_property(DataReport.DRIFT_PROPERTY) == (
        "nothing to compare with: span 1 is the first span ingested (no lower span has "
        "statistics with the same splits)"
    )
    assert report.get_int_custom_property("anomalies") == 3
