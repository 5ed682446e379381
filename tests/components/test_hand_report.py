"""The data validation report's Hands section, the run summary's hand line, and the gate."""

import base64
import dataclasses
import io
import json
import re

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import pytest
import tensorflow as tf
from PIL import Image
from tfx.types import artifact_utils, standard_artifacts

from signpipe.components.artifacts import DataReport
from signpipe.components.data_gate.executor import FAIL_ON_ANOMALIES_KEY
from signpipe.components.data_gate.executor import Executor as GateExecutor
from signpipe.components.data_validation_report import hands_section as hs
from signpipe.components.data_validation_report import report_page as rp
from signpipe.components.data_validation_report.data_checks import hand_detection_findings
from signpipe.components.data_validation_report.executor import iter_examples
from signpipe.errors import DataValidationError
from signpipe.models import features
from signpipe.runs.summaries import DataSummary
from tests.conftest import encode_image

BOX = (0.1, 0.2, 0.6, 0.7)
NO_HAND_BOX = (-0.1667, 0.0, 1.1667, 1.0)  # the padded whole frame of a 40x30 image


def _example(label: str, path: str, found: int | None, seed: int = 0) -> bytes:
    """A serialized example like ExampleGen's; found None: written without hand analysis."""

    def _bytes(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    feature = {
        features.IMAGE_KEY: _bytes(encode_image("JPEG", seed=seed)),
        features.LABEL_KEY: _bytes(label.encode()),
        features.SOURCE_PATH_KEY: _bytes(path.encode()),
    }
    if found is not None:
        feature[features.HAND_FOUND_KEY] = tf.train.Feature(
            int64_list=tf.train.Int64List(value=[found])
        )
        feature[features.HAND_BOX_KEY] = tf.train.Feature(
            float_list=tf.train.FloatList(value=BOX if found else NO_HAND_BOX)
        )
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _examples(tmp_path, splits: dict[str, list[bytes]]) -> standard_artifacts.Examples:
    """An Examples artifact holding each split's records in a GZIP TFRecord file."""
    artifact = standard_artifacts.Examples()
    artifact.uri = str(tmp_path)
    artifact.split_names = artifact_utils.encode_split_names(list(splits))
    for split, records in splits.items():
        folder = tmp_path / f"Split-{split}"
        folder.mkdir()
        with tf.io.TFRecordWriter(str(folder / "data.gz"), options="GZIP") as writer:
            for record in records:
                writer.write(record)
    return artifact


def _hands(tmp_path, splits: dict[str, list[tuple[str, int | None]]]) -> hs.Hands:
    """Hands read back through iter_examples from examples of (label, found) per split."""
    records = {
        split: [
            _example(label, f"/data/{split}/{label}/{i}.jpg", found, seed=i)
            for i, (label, found) in enumerate(rows)
        ]
        for split, rows in splits.items()
    }
    artifact = _examples(tmp_path, records)
    return hs.collect_hands(
        {
            split: iter_examples(artifact, split, hs.HAND_FEATURES, hs.WHOLE_FEATURES)
            for split in splits
        }
    )


def _rows(html: str, section: str) -> list[list[str]]:
    """The text of each table row inside one section, cell by cell."""
    body = re.search(rf'<section id="{section}">(.*?)</section>', html, re.S).group(1)
    return [
        [
            " ".join(re.sub(r"<[^>]+>", "", cell).split())
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


@pytest.fixture
def hands(tmp_path) -> hs.Hands:
    """train: A 3 of 4, B 1 of 4 found; eval: A 0 of 2, B 1 of 2."""
    return _hands(
        tmp_path,
        {
            "train": [
                ("A", 1),
                ("A", 1),
                ("A", 1),
                ("A", 0),
                ("B", 1),
                ("B", 0),
                ("B", 0),
                ("B", 0),
            ],
            "eval": [("A", 0), ("A", 0), ("B", 1), ("B", 0)],
        },
    )


def test_collects_rates_per_class_and_split_with_whole_boxes(hands):
    assert hands.analysed
    assert hands.found == {"train": {"A": 3, "B": 1}, "eval": {"A": 0, "B": 1}}
    assert hands.images == {"train": {"A": 4, "B": 4}, "eval": {"A": 2, "B": 2}}
    assert hands.split_rates() == {"train": (4, 8), "eval": (1, 4)}
    assert hs.summary(hands) == "42% (train 50%, eval 25%)"
    assert [s.path for s in hands.missed["train"]] == [
        f"/data/train/{label}/{i}.jpg" for label, i in (("A", 3), ("B", 5), ("B", 6), ("B", 7))
    ]
    assert all(s.box is None for s in hands.missed["eval"])
    assert [s.box for s in hands.boxed["eval"]] == [pytest.approx(BOX)]
    assert len(hands.boxed["train"]) == hs.SAMPLES_PER_SPLIT


def test_fold_parts_count_as_their_fold(tmp_path):
    hands = _hands(
        tmp_path,
        {"fold1_train": [("A", 1), ("A", 0)], "fold1_eval": [("A", 0)], "fold2_train": [("A", 1)]},
    )
    assert hands.split_rates() == {"fold1": (1, 3), "fold2": (1, 1)}
    assert [s.path for s in hands.missed["fold1"]] == [
        "/data/fold1_train/A/1.jpg",
        "/data/fold1_eval/A/0.jpg",
    ]


def test_section_renders_rates_totals_and_no_hand_samples(hands):
    html = hs.render_hands(hands, floor=0.3)
    rows = _rows(html, "hands")
    assert rows[0] == ["Label", "train", "eval", "Total"]
    assert ["A", "75% (3/4)", "0% (0/2)", "50% (3/6)"] in rows
    assert ["B", "25% (1/4)", "50% (1/2)", "33% (2/6)"] in rows
    assert ["Total", "50% (4/8)", "25% (1/4)", "42% (5/12)"] in rows
    assert 'class="verdict bad">Hands found: 42% (train 50%, eval 25%)' in html
    assert html.count('class="n low"') == 3  # A in eval, B in train, eval's total
    missed = html[html.index('id="hands-missed"') : html.index('id="hands-found"')]
    for sample in hands.missed["eval"]:
        assert sample.path in missed
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', missed)) == 4 + 3
    found = html[html.index('id="hands-found"') :]
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', found)) == 4 + 1


def test_section_without_findings_and_with_the_check_off(hands):
    assert 'class="verdict ok"' in hs.render_hands(hands, floor=0.2)
    html = hs.render_hands(hands, floor=0.0)
    assert 'class="verdict ok"' in html and "The floor check is off" in html
    assert " low" not in html


def test_no_hand_features_means_analysis_was_off(tmp_path):
    hands = _hands(tmp_path, {"train": [("A", None), ("B", None)], "eval": [("A", None)]})
    assert not hands.analysed and hands.images == {} and hands.missed == {}
    assert hand_detection_findings(hands.found, hands.images, 0.5) == []
    assert hs.summary(hands) == "not analysed (data.hand_analysis is false)"
    html = hs.render_hands(hands, floor=0.5)
    assert "Hand analysis was off (data.hand_analysis is false)" in html
    assert "<table" not in html and "<img" not in html


def test_report_page_links_the_hands_section(hands):
    inputs = rp.ReportInputs("t", {}, [], {}, [], 0, {}, {}, hands_html=hs.render_hands(hands, 0.1))
    html = rp.render_report(inputs)
    assert 'href="#hands"' in html and '<section id="hands">' in html
    assert 'href="#hands"' not in rp.render_report(rp.ReportInputs("t", {}, [], {}, [], 0, {}, {}))


def _pixels(uri: str) -> Image.Image:
    """The image of a data URI."""
    return Image.open(io.BytesIO(base64.b64decode(uri.partition(",")[2]))).convert("RGB")


def test_box_leaving_the_frame_grows_the_canvas_and_is_drawn():
    data = encode_image("PNG", size=(40, 40))
    assert _pixels(hs.hand_thumbnail(data)).size == (96, 96)
    image = _pixels(hs.hand_thumbnail(data, box=(0.0, 0.5, 1.0, 1.5)))
    assert image.size == (96, 64)  # the frame and the half of the box right of it
    outside = image.getpixel((80, 32))
    assert all(abs(a - b) < 30 for a, b in zip(outside, (190, 190, 190), strict=True))
    red, green, blue = image.getpixel((33, 32))  # the box's left edge, mid-height
    assert green > 150 and red < 120 and blue < 170


def test_corrupt_sample_becomes_a_placeholder():
    hands = hs.Hands(
        analysed=True,
        found={"train": {"A": 0}},
        images={"train": {"A": 1}},
        missed={"train": [hs.HandSample("/data/A/bad.jpg", b"\xff\xd8 broken")]},
    )
    html = hs.render_hands(hands, floor=0.1)
    assert "could not decode" in html and "/data/A/bad.jpg" in html


def test_summary_prints_the_found_rate():
    summary = DataSummary(
        counts={"train": {"A": 8}},
        split_by="image",
        groups={},
        quarantined=0,
        duplicates_dropped=0,
        anomalies=1,
        drift="not compared",
        hands="42% (train 50%, eval 25%)",
        report_path="/r/index.html",
    )
    assert "  hands found: 42% (train 50%, eval 25%)" in summary.describe().splitlines()


def _gate(tmp_path, findings: list[rp.Finding], fail: bool) -> None:
    """Run the DataGate on a report whose findings.json holds the given findings."""
    report = DataReport()
    report.uri = str(tmp_path)
    findings_json = json.dumps([dataclasses.asdict(f) for f in findings])
    (tmp_path / DataReport.FINDINGS_FILE).write_text(findings_json)
    GateExecutor().Do({"report": [report]}, {}, {FAIL_ON_ANOMALIES_KEY: int(fail)})


def test_gate_stops_on_the_hand_finding_unless_anomalies_are_allowed(tmp_path):
    findings = hand_detection_findings({"eval": {"A": 0}}, {"eval": {"A": 5}}, 0.1)
    with pytest.raises(DataValidationError, match=r"\[eval\] hand_found: few hands found"):
        _gate(tmp_path, findings, fail=True)
    _gate(tmp_path, findings, fail=False)
