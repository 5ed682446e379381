"""The project's own data checks: class balance and missing classes."""

from signpipe.components.data_validation_report.data_checks import class_balance_findings


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
