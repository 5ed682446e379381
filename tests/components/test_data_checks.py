"""The project's own data checks: class balance, missing classes, hands found."""

import pytest

from signpipe.components.data_validation_report.data_checks import (
    accuracy_margin,
    accuracy_margins,
    class_balance_findings,
    hand_detection_findings,
    measured_sets,
    merge_fold_parts,
    too_few_images_findings,
)


def test_balanced_splits_have_no_finding():
    counts = {"train": {"A": 10, "B": 12}, "eval": {"A": 3, "B": 3}}
    assert class_balance_findings(counts, ["A", "B"], max_ratio=5) == []


def test_imbalance_above_ratio_names_both_classes():
    counts = {"train": {"A": 60, "B": 10}, "eval": {"A": 3, "B": 3}}
    findings = class_balance_findings(counts, ["A", "B"], max_ratio=5)
    assert [(f.split, f.short) for f in findings] == [("train", "class imbalance")]
    assert "'A' has 60" in findings[0].detail and "'B'" in findings[0].detail


def test_class_missing_from_a_split():
    counts = {"train": {"A": 10, "B": 10, "Ñ": 10}, "eval": {"A": 3, "B": 3}}
    findings = class_balance_findings(counts, ["A", "B", "Ñ"], max_ratio=5)
    assert [(f.split, f.short) for f in findings] == [("eval", "class missing from split")]
    assert "Ñ" in findings[0].detail


def test_too_few_images_to_measure_names_the_classes_per_measured_set():
    counts = {
        "train": {"A": 1, "B": 30},  # training sets are not measured on
        "eval": {"A": 2, "B": 9},
        "test": {"A": 5, "B": 5},
    }
    [finding] = too_few_images_findings(counts, min_per_class=5)
    assert finding.split == "eval" and finding.severity == "error"
    assert "'eval': A (2)" in finding.detail
    assert "validation.min_images_per_class" in finding.detail


def test_a_fold_is_measured_on_its_train_and_eval_parts_together():
    counts = {
        "fold1_train": {"A": 3, "B": 8},
        "fold1_eval": {"A": 1, "B": 2},
        "fold2_train": {"A": 6},
        "fold2_eval": {"A": 2},
    }
    assert measured_sets(counts) == {"fold1": {"A": 4, "B": 10}, "fold2": {"A": 8}}
    [finding] = too_few_images_findings(counts, min_per_class=5)
    assert finding.split == "fold1" and "A (4)" in finding.detail


def test_accuracy_margin_shrinks_with_the_square_root_of_the_images():
    assert accuracy_margin(36) == pytest.approx(0.1633, abs=1e-4)
    assert accuracy_margin(144) == pytest.approx(accuracy_margin(36) / 2)
    assert accuracy_margins({"train": {"A": 50}, "eval": {"A": 36}}) == "eval: ±16.3% (36 images)"


def test_class_balance_of_a_fold_is_checked_on_the_whole_fold():
    counts = {"fold1_train": {"A": 4, "B": 4}, "fold1_eval": {"A": 1}}
    assert merge_fold_parts(counts) == {"fold1": {"A": 5, "B": 4}}
    assert class_balance_findings(merge_fold_parts(counts), ["A", "B"], max_ratio=2) == []


def test_a_split_under_the_hand_floor_is_an_error_naming_the_fixes():
    found = {"train": {"A": 9, "B": 9}, "eval": {"A": 1, "B": 0}}
    images = {"train": {"A": 10, "B": 10}, "eval": {"A": 10, "B": 10}}
    [finding] = hand_detection_findings(found, images, floor=0.1)
    assert (finding.split, finding.field, finding.severity) == ("eval", "hand_found", "error")
    assert "a hand in 1 of 20 images in 'eval' (5.0%), under the floor of 10.0%" in finding.detail
    for advice in ("show a hand", "data.hand_min_confidence", "validation.min_hand_detection_rate"):
        assert advice in finding.detail


def test_hand_rate_at_the_floor_or_with_the_floor_off_is_no_finding():
    found, images = {"eval": {"A": 2}}, {"eval": {"A": 20}}
    assert hand_detection_findings(found, images, floor=0.1) == []
    assert len(hand_detection_findings(found, images, floor=0.11)) == 1
    assert hand_detection_findings({"eval": {"A": 0}}, images, floor=0.0) == []


def test_hand_rate_of_a_fold_is_checked_on_the_whole_fold():
    found = {"fold1_train": {"A": 0}, "fold1_eval": {"A": 2}, "fold2_train": {"A": 0}}
    images = {"fold1_train": {"A": 8}, "fold1_eval": {"A": 2}, "fold2_train": {"A": 5}}
    findings = hand_detection_findings(found, images, floor=0.2)
    assert [f.split for f in findings] == ["fold2"]
