"""The data half end to end under TFX's local runner, on generated images plus bad files."""

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.types import standard_artifacts

from signpipe.components import ingestion_report
from signpipe.components.artifacts import DataReport
from signpipe.components.data_validation_report.executor import iter_examples
from signpipe.data.synthetic_hands import SyntheticDataSpec, generate_dataset
from signpipe.errors import DataRootError, DataValidationError
from signpipe.pipeline import local_runner
from signpipe.pipeline.configs import load_config
from signpipe.runs.store import latest_artifact, steps_after
from signpipe.runs.summaries import data_summary, export_schema
from tests.conftest import encode_image

pytestmark = pytest.mark.slow(minutes=5)  # an estimate, to start long groups first

GROUPS = r"^(signer\d+)_"
SPEC = SyntheticDataSpec(
    images_per_class=9, signers=3, image_size=64, formats=("jpeg", "png", "bmp", "webp")
)
FEATURES = ("label", "source_path", "group", "height", "width", "channels", "image_format")


def _run(home: Path, root: Path, **overrides):
    """Run the data half and return its config."""
    # The generated sets are small: the eval and test splits hold a few images per class.
    values = {
        "home": str(home),
        "data.data_root": str(root),
        "validation.min_images_per_class": 1,
    }
    values.update(overrides)
    config = load_config(None, **values)
    local_runner.run(config, data_only=True)
    return config


def _examples_by_split(config) -> dict[str, list[dict]]:
    examples = latest_artifact(config, "Examples")
    artifact = standard_artifacts.Examples()
    artifact.set_mlmd_artifact(examples)
    return {
        split: list(iter_examples(artifact, split, FEATURES)) for split in ("train", "eval", "test")
    }


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory) -> tuple[Path, dict[str, str], set[str]]:
    """Generated images plus one of every bad-file case, and the expected quarantine reasons."""
    root = tmp_path_factory.mktemp("images")
    generate_dataset(root, SPEC)
    first = sorted((root / "A").iterdir())[0]
    upper = first.with_suffix(first.suffix.upper())
    first.rename(upper)
    good = {str(p) for p in root.glob("*/*") if p.is_file()}
    bad = {
        "signer1_empty.png": (b"", "empty file"),
        "signer1_text.jpg": (b"plain text", "not an image"),
        "signer1_cut.jpg": (encode_image("JPEG", size=(64, 64))[:300], "truncated or corrupt"),
        "signer1_anim.gif": (encode_image("GIF"), "unsupported extension"),
        "signer1_swap.jpg": (encode_image("PNG"), "content is PNG but the extension says JPEG"),
        "nosigner.png": (encode_image("PNG", seed=9), "does not match the group pattern"),
    }
    reasons = {}
    for name, (content, reason) in bad.items():
        (root / "A" / name).write_bytes(content)
        reasons[str(root / "A" / name)] = reason
    os.symlink(root / "A" / "gone.png", root / "B" / "signer2_link.png")
    reasons[str(root / "B" / "signer2_link.png")] = "unreadable"
    shutil.copyfile(upper, upper.with_name("signer1_copy" + upper.suffix))
    in_b = sorted((root / "B").glob("signer2_*"))[0]
    in_c = root / "C" / in_b.name
    shutil.copyfile(in_b, in_c)
    for path in (in_b, in_c):
        reasons[str(path)] = "same content in classes ['B', 'C']: the label is ambiguous"
    good.discard(str(in_b))
    return root, reasons, good


@pytest.fixture(scope="module")
def first_run(image_tree, tmp_path_factory):
    """One run split by signer, on the multi-processing DirectRunner (workers in processes)."""
    root, _, _ = image_tree
    return _run(
        tmp_path_factory.mktemp("home"),
        root,
        **{
            "data.group_regex": GROUPS,
            "beam_args": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
        },
    )


def test_every_good_image_is_ingested_once(image_tree, first_run):
    _, _, good = image_tree
    by_split = _examples_by_split(first_run)
    paths = [row["source_path"].decode() for rows in by_split.values() for row in rows]
    assert len(paths) == len(set(paths))
    assert set(paths) == good
    labels = {row["label"].decode() for rows in by_split.values() for row in rows}
    assert labels == {"A", "B", "C", "E", "L", "Ñ"}
    formats = {row["image_format"].decode() for rows in by_split.values() for row in rows}
    assert formats == {"jpeg", "png", "bmp", "webp"}
    assert all(row["height"] == row["width"] == 64 for rows in by_split.values() for row in rows)


def test_every_example_records_its_hand_found_or_not(first_run):
    hand_keys = ("hand_found", "hand_score", "handedness")
    report = ingestion_report.read_report(latest_artifact(first_run, "Examples").uri)
    found_per_split = {}
    for split, rows in _examples_by_split(first_run).items():
        artifact = standard_artifacts.Examples()
        artifact.set_mlmd_artifact(latest_artifact(first_run, "Examples"))
        found = 0
        for row in iter_examples(artifact, split, hand_keys):
            if row["hand_found"]:
                found += 1
                assert row["handedness"] in (b"left", b"right") and row["hand_score"] > 0
            else:
                assert row["handedness"] == b"none" and row["hand_score"] == 0
        found_per_split[split] = found
        assert len(rows) >= found
    assert found_per_split == report["hands_found"]
    assert 0 < report["totals"]["hands_found"] < report["totals"]["examples"]
    assert data_summary(first_run).hands.endswith(")")


def test_bad_files_are_quarantined_with_their_reason(image_tree, first_run):
    _, reasons, _ = image_tree
    report = ingestion_report.read_report(latest_artifact(first_run, "Examples").uri)
    quarantined = {row["path"]: row["reason"] for row in report["quarantined"]}
    assert set(quarantined) == set(reasons)
    for path, reason in reasons.items():
        assert reason in quarantined[path], path
    assert report["totals"]["duplicates_dropped"] == 1
    [duplicate] = report["duplicates"]
    assert [Path(path).stem for path in duplicate["dropped"]] == ["signer1_copy"]


def test_no_signer_is_in_two_splits(first_run):
    splits_of_group = defaultdict(set)
    for split, rows in _examples_by_split(first_run).items():
        assert rows, f"split {split} is empty"
        for row in rows:
            splits_of_group[row["group"].decode()].add(split)
    assert len(splits_of_group) == 3
    assert all(len(splits) == 1 for splits in splits_of_group.values())


def test_report_and_summary(first_run):
    summary = data_summary(first_run)
    assert summary.quarantined == 9 and summary.duplicates_dropped == 1
    assert summary.anomalies == 0
    html = Path(summary.report_path).read_text(encoding="utf-8")
    for text in ("Class balance", "signer1_text.jpg", "not an image", "Ñ"):
        assert text in html
    findings = json.loads(Path(summary.report_path).with_name(DataReport.FINDINGS_FILE).read_text())
    assert findings == []


def test_second_run_reuses_every_cached_step(first_run):
    local_runner.run(first_run, data_only=True)
    runs = defaultdict(list)
    for execution in steps_after(first_run):
        runs[execution.run_id].append(execution)
    latest = runs[max(runs)]
    assert len(latest) == 6
    assert {e.state for e in latest} == {"CACHED"}, [(e.component, e.state) for e in latest]


def test_gate_stops_on_imbalance_small_images_and_too_few_to_measure_unless_allowed(tmp_path):
    root = tmp_path / "images"
    generate_dataset(root, SyntheticDataSpec(letters=("A", "B"), images_per_class=12, signers=1))
    for extra in sorted((root / "B").iterdir())[2:]:
        extra.unlink()
    (root / "A" / "tiny.png").write_bytes(encode_image("PNG", size=(12, 12), seed=5))
    halves = {"data.split_ratios": {"train": 0.5, "eval": 0.5}}
    with pytest.raises(DataValidationError) as raised:
        _run(tmp_path / "home", root, **halves, **{"validation.min_images_per_class": 5})
    message = str(raised.value)
    assert "class imbalance" in message and "'A' has" in message
    assert "below minimum size" in message and "tiny.png" in message
    assert "too few images to measure" in message and "'eval': B (1)" in message
    report_path = message.split("Report: ")[1].split("\n")[0]
    assert Path(report_path).is_file()

    config = _run(
        tmp_path / "home2",
        root,
        **{"data.split_ratios": {"train": 0.5, "eval": 0.5}, "validation.fail_on_anomalies": False},
    )
    findings_path = Path(data_summary(config).report_path).with_name(DataReport.FINDINGS_FILE)
    shorts = {finding["short"] for finding in json.loads(findings_path.read_text())}
    assert {"class imbalance", "images below minimum size"} <= shorts


def test_curated_schema_is_enforced(first_run, image_tree, tmp_path):
    schema_path = export_schema(first_run, str(tmp_path / "schemas" / "schema.pbtxt"))
    schema = tfdv.load_schema_text(schema_path)
    tfdv.set_domain(schema, "width", schema_pb2.IntDomain(min=500))
    tfdv.write_schema_text(schema, schema_path)
    with pytest.raises(DataValidationError, match="width"):
        _run(tmp_path / "home", image_tree[0], **{"validation.schema_path": schema_path})


def test_class_folder_without_usable_images_is_an_error(tmp_path):
    root = tmp_path / "images"
    generate_dataset(root, SyntheticDataSpec(letters=("A", "B"), images_per_class=6))
    (root / "C").mkdir()
    (root / "C" / "broken.jpg").write_bytes(b"nope")
    with pytest.raises(DataRootError, match=r"\['C'\].*hold no usable image"):
        _run(tmp_path / "home", root)


def test_empty_root_is_an_error(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DataRootError, match="holds no class folders"):
        _run(tmp_path / "home", tmp_path / "images")


def test_latest_span_is_picked_unless_one_is_named(tmp_path):
    for span, per_class in ((1, 8), (2, 12)):
        spec = SyntheticDataSpec(letters=("A", "B"), images_per_class=per_class, seed=span)
        generate_dataset(tmp_path / "data" / f"span-{span}", spec)
    root = tmp_path / "data" / "span-{SPAN}"
    latest = _run(tmp_path / "home", root)
    examples = latest_artifact(latest, "Examples")
    assert examples.custom_properties["span"].int_value == 2
    assert examples.custom_properties["examples"].int_value == 24
    named = _run(tmp_path / "home", root, **{"data.span": 1})
    examples = latest_artifact(named, "Examples")
    assert examples.custom_properties["span"].int_value == 1
    assert examples.custom_properties["examples"].int_value == 16


def test_runs_lists_shows_compares_and_reports_runs_including_a_failed_one(
    first_run, image_tree, tmp_path, capsys
):
    from signpipe.cli import main
    from signpipe.runs.history import list_runs
    from signpipe.runs.report.page import write_report

    before = list_runs(first_run)
    schema_path = export_schema(first_run, str(tmp_path / "schema.pbtxt"))
    schema = tfdv.load_schema_text(schema_path)
    tfdv.set_domain(schema, "width", schema_pb2.IntDomain(min=500))
    tfdv.write_schema_text(schema, schema_path)
    with pytest.raises(DataValidationError):
        _run(
            Path(first_run.home),
            image_tree[0],
            **{"data.group_regex": GROUPS, "validation.schema_path": schema_path},
        )
    runs = list_runs(first_run)
    assert len(runs) == len(before) + 1 and runs[1:] == before
    failed, first = runs[0], runs[-1]
    assert failed.status == "FAILED" and first.status == "COMPLETE"
    assert failed.step("DataGate").state == "FAILED" and failed.marks().endswith("X")
    assert failed.step("ImportSchemaGen") and not first.step("ImportSchemaGen")

    home = ["--home", first_run.home]
    capsys.readouterr()
    assert main(["runs", "list", *home]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 1 + len(runs)
    assert failed.run_id in listed[1] and "FAILED" in listed[1]
    assert first.run_id in listed[-1] and "COMPLETE" in listed[-1]

    assert main(["runs", "show", failed.run_id[:22], *home]) == 0
    shown = capsys.readouterr().out
    assert "FAILED" in shown and "DataGate" in shown and "signpipe report" in shown

    assert main(["runs", "compare", first.run_id, failed.run_id, *home]) == 0
    compared = capsys.readouterr().out
    assert f"ImportSchemaGen.schema_file: None -> {schema_path!r}" in compared

    assert main(["runs", "show", "no-such-run", *home]) == 1
    assert "matches no run" in capsys.readouterr().err

    page = Path(write_report(first_run, failed.run_id)).read_text(encoding="utf-8")
    assert "Failed at DataGate" in page and "width" in page
    assert "No model was trained in this run." in page


def test_test_groups_hold_whole_signers_out_and_an_unknown_one_is_named(tmp_path):
    root = tmp_path / "images"
    spec = SyntheticDataSpec(letters=("A", "B"), images_per_class=18, signers=3, image_size=64)
    generate_dataset(root, spec)
    found = r"the groups found are \['signer1', 'signer2', 'signer3'\]"
    with pytest.raises(DataRootError, match=rf"\['signer9'\] are not groups.*{found}"):
        _run(
            tmp_path / "home", root, **{"data.group_regex": GROUPS, "data.test_groups": ["signer9"]}
        )
    config = _run(
        tmp_path / "home", root, **{"data.group_regex": GROUPS, "data.test_groups": ["signer2"]}
    )
    by_split = _examples_by_split(config)
    groups = {split: {row["group"].decode() for row in rows} for split, rows in by_split.items()}
    assert groups["test"] == {"signer2"}
    assert len(by_split["test"]) == 12  # all of signer2's images, and only them
    assert groups["train"] | groups["eval"] == {"signer1", "signer3"}
    assert "test groups ['signer2'] held out" in data_summary(config).describe()
