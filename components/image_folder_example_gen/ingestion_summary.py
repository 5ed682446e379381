"""The ingestion report from the Beam pipeline's counts, and the checks on its outcome."""

import dataclasses
from collections import Counter
from typing import Any

from signpipe.components import ingestion_report
from signpipe.components.image_folder_example_gen import split_plan
from signpipe.errors import DataRootError


@dataclasses.dataclass(frozen=True)
class IngestOptions:
    """What the Beam stages need from the execution properties."""

    root: str
    rules: split_plan.SplitRules
    group_regex: str | None
    group_folder_level: int | None
    hand_min_confidence: float | None  # None: no hand analysis

    @property
    def split_names(self) -> tuple[str, ...]:
        """The output split names, in order."""
        return self.rules.split_names

    @property
    def grouped(self) -> bool:
        """Whether images carry a group (signer, session) key."""
        return bool(self.group_regex) or self.group_folder_level is not None


def split_by(options: IngestOptions) -> str:
    """How the splits were made, in words."""
    key = (
        f"group regex {options.group_regex!r}"
        if options.group_regex
        else f"group folder level {options.group_folder_level}"
    )
    rules = options.rules
    rest = "by group" if rules.train_eval_by_group else "by image, stratified by label"
    if rules.folds:
        return f"{rules.folds} folds of whole groups ({key}), each split train/eval {rest}"
    if rules.test_groups:
        return f"test groups {list(rules.test_groups)} held out ({key}); train/eval {rest}"
    return key if options.grouped else "label (stratified)"


def assemble_report(
    options: IngestOptions,
    plan: split_plan.SplitPlan,
    quarantined: list[dict],
    duplicates: list[dict],
    counts: list[tuple[tuple[str, str], int]],
    hands: list[tuple[str, int]],
    labels: list[str],
) -> dict[str, Any]:
    """The ingestion report: counts per (split, label), hands found per split, the files
    quarantined and the duplicates dropped, and the plan's groups."""
    per_split = {name: {} for name in options.split_names}
    for (split, label), count in counts:
        per_split[split][label] = count
    hands_found = {name: 0 for name in options.split_names}
    hands_found.update(hands)
    rules = options.rules
    return {
        "data_root": options.root,
        "labels": sorted(labels),
        "split_names": list(options.split_names),
        "split_by": split_by(options),
        "groups": plan.groups,
        "test_groups": list(rules.test_groups),
        "unknown_test_groups": plan.unknown_test_groups,
        "folds": rules.folds,
        "counts": per_split,
        # None: hand analysis was off
        "hands_found": hands_found if options.hand_min_confidence is not None else None,
        "quarantined": sorted(quarantined, key=lambda row: row["path"]),
        "duplicates": sorted(duplicates, key=lambda row: row["kept"]),
        "totals": {
            "examples": sum(count for _, count in counts),
            "quarantined": len(quarantined),
            "duplicates_dropped": sum(len(row["dropped"]) for row in duplicates),
            "hands_found": sum(hands_found.values()),
        },
    }


def check_outcome(report: dict[str, Any], uri: str) -> None:
    """Stop on an unknown test group, too few groups for the folds, or an empty class or split."""
    found = sorted({group for groups in report["groups"].values() for group in groups})
    if report["unknown_test_groups"]:
        raise DataRootError(
            f"data.test_groups {report['unknown_test_groups']} are not groups of "
            f"'{report['data_root']}' ({report['split_by']}); the groups found are {found}"
        )
    if report["folds"] and len(found) < report["folds"]:
        raise DataRootError(
            f"{report['folds']} folds need at least as many groups; "
            f"'{report['data_root']}' has {len(found)}: {found}. Use fewer folds (--folds)."
        )
    counted = Counter()
    for per_label in report["counts"].values():
        counted.update(per_label)
    empty_classes = [label for label in report["labels"] if not counted[label]]
    if empty_classes:
        raise DataRootError(
            f"class folder(s) {empty_classes} under '{report['data_root']}' hold no usable "
            f"image; the reasons are listed in {uri}/{ingestion_report.REPORT_FILE}. "
            "Add images or remove the folder."
        )
    empty_splits = [split for split, per_label in report["counts"].items() if not per_label]
    if empty_splits:
        raise DataRootError(
            f"split(s) {empty_splits} received no image ({report['split_by']}, "
            f"{report['totals']['examples']} images). Add images (from more groups when "
            "splitting by group), pin a group to the split, change data.split_ratios, or "
            "drop --train-eval-by-group."
        )
