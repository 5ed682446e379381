"""The project's data checks that TFDV's schema validation does not make."""

import math
from collections import Counter
from collections.abc import Mapping

from tensorflow_metadata.proto.v0 import statistics_pb2

from signpipe.components.data_validation_report.report_page import Finding
from signpipe.components.split_names import EVAL, FOLD_PREFIX, TEST
from signpipe.models import features

SIDE_FEATURES = (features.HEIGHT_KEY, features.WIDTH_KEY)


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
                    field=features.LABEL_KEY,
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
                    field=features.LABEL_KEY,
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


def merge_fold_parts(counts: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Counts per split, with each fold's train and eval part counted as the one fold.

    A fold's parts only matter together: its model is measured on the whole fold, and the
    other folds' parts train it. So balance is checked per fold, not per part.
    """
    merged: dict[str, Counter] = {}
    for split, per_label in counts.items():
        merged.setdefault(checked_set(split), Counter()).update(per_label)
    return {name: dict(per_label) for name, per_label in merged.items()}


def checked_set(split: str) -> str:
    """The set a split is checked as: a fold's part (fold2_eval) as its fold, else itself."""
    return split.rpartition("_")[0] if split.startswith(FOLD_PREFIX) and "_" in split else split


def hand_detection_findings(
    found: Mapping[str, Mapping[str, int]], images: Mapping[str, Mapping[str, int]], floor: float
) -> list[Finding]:
    """Splits (a fold's parts as the one fold) where a hand was found in under `floor` of images.

    `found` and `images` count, per split and class, the images with a hand found and all
    images. A floor of 0 turns the check off.
    """
    if floor <= 0:
        return []
    found, images = merge_fold_parts(found), merge_fold_parts(images)
    findings = []
    for name, per_label in images.items():
        total, hands = sum(per_label.values()), sum(found.get(name, {}).values())
        if total and hands / total < floor:
            findings.append(
                Finding(
                    split=name,
                    field="hand_found",
                    severity="error",
                    short="few hands found",
                    detail=(
                        f"MediaPipe found a hand in {hands} of {total} images in '{name}' "
                        f"({hands / total:.1%}), under the floor of {floor:.1%} "
                        "(validation.min_hand_detection_rate). Without a hand the model sees "
                        "the whole frame and no landmarks. Check that the images show a hand "
                        "(the report's Hands section shows some where none was found), lower "
                        "data.hand_min_confidence to accept less certain detections, or lower "
                        "validation.min_hand_detection_rate (0 turns this check off)."
                    ),
                )
            )
    return findings


def measured_sets(counts: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Image counts per class of each set a model is measured on: eval, test, or each fold."""
    return {
        name: per_label
        for name, per_label in merge_fold_parts(counts).items()
        if name in (EVAL, TEST) or name.startswith(FOLD_PREFIX)
    }


def too_few_images_findings(
    counts: Mapping[str, Mapping[str, int]], min_per_class: int
) -> list[Finding]:
    """Measured sets holding fewer than `min_per_class` images of a class they contain."""
    findings = []
    for name, per_label in measured_sets(counts).items():
        few = {label: n for label, n in sorted(per_label.items()) if 0 < n < min_per_class}
        if few:
            listed = ", ".join(f"{label} ({n})" for label, n in few.items())
            findings.append(
                Finding(
                    split=name,
                    field=features.LABEL_KEY,
                    severity="error",
                    short="too few images to measure",
                    detail=(
                        f"{len(few)} class(es) have fewer than {min_per_class} images in "
                        f"'{name}': {listed}. Accuracy on so few images says little and can "
                        "bless a model by chance: add images, give the split a larger ratio "
                        "(--split), or lower validation.min_images_per_class."
                    ),
                )
            )
    return findings


def accuracy_margin(images: int) -> float:
    """Half-width of a 95% confidence interval of an accuracy measured on `images` images.

    The normal approximation at 50% accuracy, where the interval is widest: a bound that
    holds whatever the model's accuracy turns out to be.
    """
    return 1.96 * math.sqrt(0.25 / images) if images else 1.0


def accuracy_margins(counts: Mapping[str, Mapping[str, int]]) -> str:
    """The accuracy margin of each measured set, in words, for the report's facts."""
    return "; ".join(
        f"{name}: ±{accuracy_margin(total):.1%} ({total} images)"
        for name, per_label in measured_sets(counts).items()
        for total in [sum(per_label.values())]
    )
