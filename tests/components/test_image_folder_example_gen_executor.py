"""ImageFolderExampleGen: its plain parts, and its executor (Beam, in memory) on a tiny tree."""

import dataclasses
import hashlib
import shutil
from pathlib import Path

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import pytest
import tensorflow as tf
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from signpipe.components import ingestion_report
from signpipe.components.image_folder_example_gen import executor as ifeg
from signpipe.components.image_folder_example_gen import ingestion_summary
from signpipe.components.image_folder_example_gen.component import split_output_config
from signpipe.components.image_folder_example_gen.duplicates import keep_one_copy
from signpipe.components.image_folder_example_gen.hand_analysis import NO_HAND, HandFacts
from signpipe.components.image_folder_example_gen.image_example import image_example
from signpipe.components.image_folder_example_gen.image_facts import read_image_facts
from signpipe.components.image_folder_example_gen.read_images import Image, with_bytes_again
from signpipe.components.image_folder_example_gen.split_plan import SplitPlan, SplitRules
from signpipe.data.synthetic_hands import SyntheticDataSpec, generate_dataset
from signpipe.errors import DataRootError
from signpipe.models import features
from tests.conftest import encode_image

SPLITS = ("train", "eval")
CORRUPT = b"\xff\xd8\xff\xe0 not a whole JPEG"


def _properties(root, hand_analysis: bool = False) -> dict:
    """The component's execution properties for `<root>/<label>/<image>`, 3:1 train/eval."""
    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="images", pattern="*/*")]
    )
    return {
        standard_component_specs.INPUT_BASE_KEY: str(root),
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(input_config),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            split_output_config({"train": 0.75, "eval": 0.25})
        ),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        standard_component_specs.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        ifeg.HAND_ANALYSIS_KEY: int(hand_analysis),
        ifeg.HAND_MIN_CONFIDENCE_KEY: 0.5,
    }


def _ingest(root, out, hand_analysis: bool = False) -> standard_artifacts.Examples:
    """Run the executor (DirectRunner, in memory) and return its Examples artifact."""
    examples = standard_artifacts.Examples()
    examples.uri = str(out)
    ifeg.Executor().Do(
        {},
        {standard_component_specs.EXAMPLES_KEY: [examples]},
        _properties(root, hand_analysis),
    )
    return examples


def _read(examples: standard_artifacts.Examples) -> dict[str, list[dict]]:
    """Split -> its examples as {feature: values}."""
    found = {}
    for split in artifact_utils.decode_split_names(examples.split_names):
        files = tf.io.gfile.glob(f"{artifact_utils.get_split_uri([examples], split)}/*.gz")
        found[split] = [
            {
                name: list(getattr(feature, feature.WhichOneof("kind")).value)
                for name, feature in tf.train.Example.FromString(record).features.feature.items()
            }
            for record in tf.data.TFRecordDataset(files, "GZIP").as_numpy_iterator()
        ]
    return found


def _tree(root) -> dict[str, str]:
    """Four good images a class, a copy, a corrupt JPEG and a text file: {path: label}."""
    good = {}
    for label, fmt, ext in (("A", "PNG", "png"), ("B", "JPEG", "jpg")):
        (root / label).mkdir(parents=True)
        for i in range(4):
            path = root / label / f"{label.lower()}{i}.{ext}"
            path.write_bytes(encode_image(fmt, size=(48, 40), seed=10 * len(good) + i))
            good[str(path)] = label
    shutil.copy(root / "A" / "a0.png", root / "A" / "copy.png")
    (root / "B" / "broken.jpg").write_bytes(CORRUPT)
    (root / "B" / "notes.txt").write_text("not an image")
    return good


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """(good files, Examples artifact, examples by split, ingestion report) of one run."""
    root = tmp_path_factory.mktemp("images")
    good = _tree(root)
    examples = _ingest(root, tmp_path_factory.mktemp("examples"))
    return root, good, examples, _read(examples), ingestion_report.read_report(examples.uri)


def test_every_good_image_becomes_one_example(ingested):
    _, good, examples, by_split, _ = ingested
    assert artifact_utils.decode_split_names(examples.split_names) == list(SPLITS)
    rows = [row for split in SPLITS for row in by_split[split]]
    paths = [row[features.SOURCE_PATH_KEY][0].decode() for row in rows]
    assert sorted(paths) == sorted(good)  # the copy of a0 is dropped, the bad files left out
    for row, path in zip(rows, paths, strict=True):
        assert row[features.LABEL_KEY] == [good[path].encode()]
        assert row[features.HEIGHT_KEY] == [40] and row[features.WIDTH_KEY] == [48]
        with open(path, "rb") as handle:
            content = handle.read()
        assert row[features.CONTENT_HASH_KEY] == [hashlib.sha256(content).hexdigest().encode()]
        assert row[features.IMAGE_KEY] == [content]
        assert features.HAND_FOUND_KEY not in row and features.GROUP_KEY not in row
    assert len(by_split["train"]) == 6 and len(by_split["eval"]) == 2  # 3:1 of each class


def test_report_lists_the_bad_files_and_the_duplicate(ingested):
    root, _, examples, by_split, report = ingested
    assert report["quarantined"] == [
        {
            "path": f"{root}/B/broken.jpg",
            "reason": report["quarantined"][0]["reason"],
        },
        {
            "path": f"{root}/B/notes.txt",
            "reason": "unsupported extension '.txt': convert it to one of "
            ".bmp, .jpeg, .jpg, .png, .webp",
        },
    ]
    assert report["quarantined"][0]["reason"].startswith("truncated or corrupt image")
    assert report["duplicates"] == [{"kept": f"{root}/A/a0.png", "dropped": [f"{root}/A/copy.png"]}]
    assert report["totals"] == {
        "examples": 8,
        "quarantined": 2,
        "duplicates_dropped": 1,
        "hands_found": 0,
    }
    assert report["hands_found"] is None  # analysis was off
    assert report["labels"] == ["A", "B"] and report["split_by"] == "label (stratified)"
    assert report["counts"] == {"train": {"A": 3, "B": 3}, "eval": {"A": 1, "B": 1}}
    for split in SPLITS:
        assert len(by_split[split]) == sum(report["counts"][split].values())
    assert report["data_root"] == str(root)
    for key, value in report["totals"].items():
        assert examples.get_int_custom_property(key) == value
    assert examples.get_string_custom_property("file_format") == "tfrecords_gzip"


def test_a_class_left_without_usable_images_stops_the_run_naming_it(tmp_path):
    (tmp_path / "images" / "A").mkdir(parents=True)
    (tmp_path / "images" / "B").mkdir()
    for i in range(4):
        (tmp_path / "images" / "A" / f"{i}.png").write_bytes(encode_image("PNG", seed=i))
    (tmp_path / "images" / "B" / "bad.jpg").write_bytes(CORRUPT)
    with pytest.raises(DataRootError, match=r"class folder\(s\) \['B'\] under .* no usable image"):
        _ingest(tmp_path / "images", tmp_path / "examples")
    report = ingestion_report.read_report(str(tmp_path / "examples"))  # written before stopping
    assert [row["path"] for row in report["quarantined"]] == [f"{tmp_path}/images/B/bad.jpg"]


def test_missing_data_root_is_named(tmp_path):
    with pytest.raises(DataRootError, match=f"data root '{tmp_path}/nowhere' does not exist"):
        _ingest(tmp_path / "nowhere", tmp_path / "examples")


def test_hand_analysis_writes_hand_features_that_the_report_counts(tmp_path):
    spec = SyntheticDataSpec(letters=("A", "B"), images_per_class=4, image_size=96)
    generate_dataset(tmp_path / "hands", spec)
    examples = _ingest(tmp_path / "hands", tmp_path / "examples", hand_analysis=True)
    report = ingestion_report.read_report(examples.uri)
    by_split = _read(examples)
    for split, rows in by_split.items():
        for row in rows:
            found = bool(row[features.HAND_FOUND_KEY][0])
            handedness = row[features.HANDEDNESS_KEY][0].decode()
            assert (handedness != features.NO_HAND) == found
            assert handedness in features.HANDEDNESS_VALUES
            assert len(row[features.HAND_LANDMARKS_KEY]) == features.LANDMARK_VALUES
            assert any(row[features.HAND_LANDMARKS_KEY]) == found
            assert len(row[features.HAND_BOX_KEY]) == 4
        found = sum(row[features.HAND_FOUND_KEY][0] for row in rows)
        assert report["hands_found"][split] == found
    assert report["totals"]["hands_found"] == sum(report["hands_found"].values())
    assert report["totals"]["hands_found"] > 0  # MediaPipe finds some generated hands
    assert examples.get_int_custom_property("hands_found") == report["totals"]["hands_found"]


def test_records_are_written_in_path_hash_order_not_one_class_after_another(tmp_path):
    letters = ("A", "B", "C", "E", "L", "Ñ")
    spec = SyntheticDataSpec(letters=letters, images_per_class=20, image_size=64)
    generate_dataset(tmp_path / "hands", spec)
    examples = _ingest(tmp_path / "hands", tmp_path / "examples")
    labels = [row["label"][0].decode() for row in _read(examples)["train"]]
    # The first fifth of the split already holds most classes (in folder order: one or two).
    assert len(set(labels[: len(labels) // 5])) >= 4, labels
    again = _ingest(tmp_path / "hands", tmp_path / "again")
    assert _read(again) == _read(examples)  # the same order on every run
    for row in _read(examples)["train"]:  # the bytes, read again when written, are the file's
        path = row[features.SOURCE_PATH_KEY][0].decode()
        assert row[features.IMAGE_KEY][0] == Path(path).read_bytes()


def test_a_file_changed_while_ingested_is_named_and_an_unchanged_one_gets_its_bytes(tmp_path):
    path = tmp_path / "A" / "one.png"
    path.parent.mkdir()
    path.write_bytes(encode_image("PNG", seed=1))
    facts = dataclasses.replace(read_image_facts(str(path), path.read_bytes()), encoded=b"")
    image = Image(str(path), "A", "", facts)
    assert with_bytes_again(image).facts.encoded == path.read_bytes()
    path.write_bytes(encode_image("PNG", seed=2))
    with pytest.raises(DataRootError, match=r"one\.png changed while it was being ingested"):
        with_bytes_again(image)


def _image(path: str, label: str, content: bytes, group: str = "") -> Image:
    return Image(path, label, group, read_image_facts(path, content))


def test_image_example_carries_group_and_hand_only_when_asked():
    content = encode_image("PNG", size=(40, 20))
    image = _image("/d/A/s1_0.png", "A", content, group="s1")
    plain = image_example(image, with_group=False, with_hand=False).features.feature
    assert plain[features.IMAGE_KEY].bytes_list.value == [content]
    assert plain[features.IMAGE_FORMAT_KEY].bytes_list.value == [b"png"]
    assert plain[features.HEIGHT_KEY].int64_list.value == [20]
    assert features.GROUP_KEY not in plain and features.HAND_FOUND_KEY not in plain
    full = image_example(image, with_group=True, with_hand=True).features.feature
    assert full[features.GROUP_KEY].bytes_list.value == [b"s1"]
    assert full[features.HAND_FOUND_KEY].int64_list.value == [0]
    assert full[features.HANDEDNESS_KEY].bytes_list.value == [NO_HAND.handedness.encode()]
    assert list(full[features.HAND_LANDMARKS_KEY].float_list.value) == list(NO_HAND.landmarks)


def test_image_example_box_is_a_fraction_of_the_image():
    landmarks = [0.4, 0.5, 0.0] * (features.LANDMARK_VALUES // 3)
    landmarks[:6] = [0.2, 0.3, 0.0, 0.6, 0.7, 0.0]
    image = _image("/d/A/0.png", "A", encode_image("PNG", size=(100, 50)))
    hand = HandFacts(True, 0.9, "right", tuple(landmarks))
    image = dataclasses.replace(image, facts=dataclasses.replace(image.facts, hand=hand))
    box = image_example(image, False, True).features.feature[features.HAND_BOX_KEY]
    assert len(box.float_list.value) == 4
    ymin, xmin, ymax, xmax = box.float_list.value
    assert ymin <= 0.3 and xmin <= 0.2 and ymax >= 0.7 and xmax >= 0.6  # holds the landmarks


def test_keep_one_copy_drops_copies_and_leaves_out_ambiguous_labels():
    content = encode_image("PNG")
    same = [_image("/d/A/2.png", "A", content), _image("/d/A/1.png", "A", content)]
    choice = keep_one_copy(same)
    assert choice.kept.path == "/d/A/1.png" and choice.quarantined == []
    assert choice.duplicates == {"kept": "/d/A/1.png", "dropped": ["/d/A/2.png"]}
    assert keep_one_copy(same[:1]).duplicates is None
    ambiguous = keep_one_copy([same[0], _image("/d/B/1.png", "B", content)])
    assert ambiguous.kept is None and ambiguous.duplicates is None
    assert [row["path"] for row in ambiguous.quarantined] == ["/d/A/2.png", "/d/B/1.png"]
    assert "same content in classes ['A', 'B']" in ambiguous.quarantined[0]["reason"]


def _options(**rules) -> ingestion_summary.IngestOptions:
    split_rules = SplitRules(split_names=("train", "eval", "test"), weights=(8, 1, 1), seed="s")
    return ingestion_summary.IngestOptions(
        root="/d",
        rules=SplitRules(**{**vars(split_rules), **rules}),
        group_regex=r"^(s\d)_",
        group_folder_level=None,
        hand_min_confidence=0.5,
    )


def test_assembled_report_counts_and_its_checks_name_the_problem():
    options = _options(test_groups=("s3", "s9"))
    plan = SplitPlan(splits={}, groups={"train": ["s1"], "eval": ["s2"], "test": ["s3"]})
    plan.unknown_test_groups = ["s9"]
    report = ingestion_summary.assemble_report(
        options,
        plan,
        quarantined=[{"path": "/d/B/z.png", "reason": "r"}, {"path": "/d/A/y.png", "reason": "r"}],
        duplicates=[{"kept": "/d/A/1.png", "dropped": ["/d/A/2.png", "/d/A/3.png"]}],
        counts=[(("train", "A"), 5), (("eval", "A"), 2), (("test", "B"), 1)],
        hands=[("train", 4)],
        labels=["B", "A"],
    )
    assert report["counts"] == {"train": {"A": 5}, "eval": {"A": 2}, "test": {"B": 1}}
    assert report["hands_found"] == {"train": 4, "eval": 0, "test": 0}
    assert [row["path"] for row in report["quarantined"]] == ["/d/A/y.png", "/d/B/z.png"]
    assert report["totals"] == {
        "examples": 8,
        "quarantined": 2,
        "duplicates_dropped": 2,
        "hands_found": 4,
    }
    assert report["split_by"] == (
        "test groups ['s3', 's9'] held out (group regex '^(s\\\\d)_'); "
        "train/eval by image, stratified by label"
    )
    with pytest.raises(DataRootError, match=r"data.test_groups \['s9'\] are not groups of '/d'"):
        ingestion_summary.check_outcome(report, "/out")
    report["unknown_test_groups"] = []
    report["counts"]["eval"] = {}
    with pytest.raises(DataRootError, match=r"split\(s\) \['eval'\] received no image"):
        ingestion_summary.check_outcome(report, "/out")
    report["counts"]["eval"] = {"A": 1, "B": 1}
    ingestion_summary.check_outcome(report, "/out")


def test_split_by_describes_each_mode():
    assert ingestion_summary.split_by(_options(folds=3)).startswith(
        "3 folds of whole groups (group regex"
    )
    options = _options()
    plain = ingestion_summary.IngestOptions("/d", options.rules, None, None, None)
    assert ingestion_summary.split_by(plain) == "label (stratified)"
    assert ingestion_summary.split_by(options) == "group regex '^(s\\\\d)_'"
