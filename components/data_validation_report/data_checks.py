"""The project's data checks that TFDV's schema validation does not make."""

from collections.abc import Mapping

from tensorflow_metadata.proto.v0 import statistics_pb2

from signpipe.components.data_validation_report.report_page import Finding

SIDE_FEATURES = ("height", "width")


def class_balance_findings(
    counts: Mapping[str, Mapping[str, int]], labels: list[str], max_ratio: float
) -> list[Finding]:
    """Classes missing from a split, and splits whose largest/smallest class ratio is too high."""
    findings = []
    for split, per_label in counts.items():
        missing = [label for label in labels if not per_label.get(label)]
        if missing and any(per_label.values()):
            findings.append(
                Finding(
                    split=split,
                    field="label",
                    severity="error",
                    short="class missing from split",
                    detail=(
                        f"{len(missing)} class(es) have no image in '{split}': {missing}. "
                        "Every class needs images in every split: add images of them (or, when "
                        "splitting by group, from groups that land in this split)."
                    ),
                )
            )
        present = {label: n for label, n in per_label.items() if n}
        if len(present) < 2:
            continue
        smallest = min(present, key=present.get)
        largest = max(present, key=present.get)
        ratio = present[largest] / present[smallest]
        if ratio > max_ratio:
            findings.append(
                Finding(
                    split=split,
                    field="label",
                    severity="error",
                    short="class imbalance",
                    detail=(
                        f"'{largest}' has {present[largest]} images and '{smallest}' "
                        f"{present[smallest]} in '{split}': ratio {ratio:.1f} is above the "
                        f"allowed {max_ratio:g}. Collect more '{smallest}' images or raise "
                        "validation.max_class_imbalance."
                    ),
                )
            )
    return findings


def smallest_side(stats: statistics_pb2.DatasetFeatureStatisticsList) -> int | None:
    """The smallest height or width in a split's statistics, or None if absent."""
    sides = [
        feature.num_stats.min
        for dataset in stats.datasets
        for feature in dataset.features
        if feature.path.step and feature.path.step[-1] in SIDE_FEATURES
    ]
    return int(min(sides)) if sides else None


def small_image_finding(split: str, min_side: int, offenders: list[str], total: int) -> Finding:
    """The finding for images below the minimum side, naming some of the files."""
    shown = ", ".join(offenders[:10]) + (" ..." if total > len(offenders[:10]) else "")
    return Finding(
        split=split,
        field="height/width",
        severity="error",
        short="images below minimum size",
        detail=(
            f"{total} image(s) in '{split}' have a side under {min_side} px: {shown}. "
            "Replace them with larger images or lower validation.min_image_side."
        ),
    )
