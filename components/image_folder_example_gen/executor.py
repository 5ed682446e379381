"""Beam executor: image files -> checked, de-duplicated, split tf.Examples plus a report."""

import dataclasses
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from signpipe.components import ingestion_report
from signpipe.components.image_folder_example_gen import folder_layout, split_assignment, split_plan
from signpipe.components.image_folder_example_gen.driver import resolve_unresolved_span
from signpipe.components.image_folder_example_gen.read_images import (
    QUARANTINE,
    Image,
    ReadImages,
)
from signpipe.errors import DataRootError
from signpipe.models import features, preprocessing
from signpipe.pipeline import progress_log

GROUP_REGEX_KEY = "group_regex"
GROUP_FOLDER_LEVEL_KEY = "group_folder_level"
PINNED_GROUPS_KEY = "pinned_groups"
SPLIT_SEED_KEY = "split_seed"
TEST_GROUPS_KEY = "test_groups"
TRAIN_EVAL_BY_GROUP_KEY = "train_eval_by_group"
FOLDS_KEY = "folds"
HAND_ANALYSIS_KEY = "hand_analysis"
HAND_MIN_CONFIDENCE_KEY = "hand_min_confidence"


@dataclasses.dataclass(frozen=True)
class _Options:
    """What the Beam stages need from the execution properties."""

    root: str
    rules: split_plan.SplitRules
    group_regex: str | None
    group_folder_level: int | None
    hand_min_confidence: float | None  # None: no hand analysis

    @property
    def split_names(self) -> tuple[str, ...]:
        return self.rules.split_names

    @property
    def grouped(self) -> bool:
        """Whether images carry a group (signer, session) key."""
        return bool(self.group_regex) or self.group_folder_level is not None


def _keep_one_copy(item: tuple[str, Iterable[Image]]):
    """Keep the first of identical files; identical files under two labels are all left out."""
    content_hash, copies = item
    copies = sorted(copies, key=lambda image: image.path)
    labels = sorted({image.label for image in copies})
    if len(labels) > 1:
        for image in copies:
            reason = (
                f"same content in classes {labels}: the label is ambiguous; "
                "keep the file in one class folder only"
            )
            yield beam.pvalue.TaggedOutput(QUARANTINE, {"path": image.path, "reason": reason})
        return
    if len(copies) > 1:
        dropped = [image.path for image in copies[1:]]
        yield beam.pvalue.TaggedOutput("duplicates", {"kept": copies[0].path, "dropped": dropped})
    yield content_hash, copies[0]


def _to_example(image: Image, with_group: bool, with_hand: bool) -> tf.train.Example:
    """Build the tf.Example for one image."""
    facts = image.facts

    def _bytes(*values: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))

    def _int(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    def _float(*values: float) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))

    feature = {
        features.IMAGE_KEY: _bytes(facts.encoded),
        features.LABEL_KEY: _bytes(image.label.encode()),
        features.SOURCE_PATH_KEY: _bytes(image.path.encode()),
        features.CONTENT_HASH_KEY: _bytes(facts.content_hash.encode()),
        features.IMAGE_FORMAT_KEY: _bytes(facts.image_format.encode()),
        features.HEIGHT_KEY: _int(facts.height),
        features.WIDTH_KEY: _int(facts.width),
        features.CHANNELS_KEY: _int(facts.channels),
        features.FILE_SIZE_KEY: _int(facts.file_size),
        features.BRIGHTNESS_KEY: _float(facts.brightness),
        features.SHARPNESS_KEY: _float(facts.sharpness),
    }
    if with_group:
        feature[features.GROUP_KEY] = _bytes(image.group.encode())
    if with_hand:
        hand = facts.hand
        box = preprocessing.hand_box(hand.landmarks, hand.found, facts.height, facts.width)
        scale = np.array([facts.height, facts.width] * 2, dtype=np.float32)
        feature[features.HAND_FOUND_KEY] = _int(int(hand.found))
        feature[features.HAND_SCORE_KEY] = _float(hand.score)
        feature[features.HANDEDNESS_KEY] = _bytes(hand.handedness.encode())
        feature[features.HAND_LANDMARKS_KEY] = _float(*hand.landmarks)
        feature[features.HAND_BOX_KEY] = _float(*(box.numpy() / scale).tolist())
    return tf.train.Example(features=tf.train.Features(feature=feature))


@beam.ptransform_fn
def _AssignSplits(images, options: _Options):
    """(content_hash, image) -> (split_name, image), plus the plan as a singleton."""
    plan = (
        images
        | "KeyLabelGroup" >> beam.Map(lambda kv: (kv[0], kv[1].label, kv[1].group))
        | "AllImages" >> beam.combiners.ToList()
        | "PlanSplits" >> beam.Map(split_plan.plan_splits, options.rules)
    )
    assigned = images | "SplitOfImage" >> beam.Map(
        lambda kv, plan: (plan.splits[kv[0]], kv[1]), plan=beam.pvalue.AsSingleton(plan)
    )
    return assigned, plan


def _build_report(
    _, options, plan, quarantined, duplicates, counts, hands, labels
) -> dict[str, Any]:
    """Assemble the ingestion report from the pipeline's side outputs."""
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
        "split_by": _split_by(options),
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


def _split_by(options: _Options) -> str:
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


def list_files(folder: str, depth: int) -> Iterator[str]:
    """Every entry `depth` levels below a folder (dot-files skipped); shallower files too.

    Entries that are not images (folders, broken links) are yielded so that reading them
    quarantines them with a reason instead of dropping them silently.
    """
    for name in sorted(fileio.listdir(folder)):
        name = name.rstrip("/")
        if name.startswith("."):
            continue
        path = f"{folder}/{name}"
        if depth > 1 and fileio.isdir(path):
            yield from list_files(path, depth - 1)
        else:
            yield path


def _class_folders(root: str) -> list[str]:
    """Class folder names under the root, or a DataRootError saying what is wrong."""
    if not fileio.exists(root):
        raise DataRootError(
            f"data root '{root}' does not exist: point --data-root at a folder holding one "
            "sub-folder per class (e.g. <root>/A/img1.jpg)"
        )
    if not fileio.isdir(root):
        raise DataRootError(f"data root '{root}' is a file, not a folder of class folders")
    names = [
        name.rstrip("/")
        for name in fileio.listdir(root)
        if not name.startswith(".") and fileio.isdir(f"{root.rstrip('/')}/{name}")
    ]
    if not names:
        raise DataRootError(
            f"data root '{root}' holds no class folders: put each class's images in "
            "<root>/<class name>/"
        )
    return sorted(names)


def data_root_groups(data_root: str, group_regex: str | None, level: int | None) -> list[str]:
    """The groups of the images under a data root (its latest span if it has `{SPAN}`)."""
    input_base, pattern = folder_layout.split_data_root(data_root, level)
    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="images", pattern=pattern)]
    )
    resolved = resolve_unresolved_span(input_base, input_config, None)
    root = folder_layout.resolved_root(input_base, resolved[0] if resolved else pattern, level)
    regex = re.compile(group_regex) if group_regex else None
    groups = set()
    for folder in _class_folders(root):
        for path in list_files(f"{root}/{folder}", folder_layout.file_depth(level) - 1):
            try:
                relative = folder_layout.relative_path(root, path)
                groups.add(split_assignment.group_key(relative, regex, level))
            except ValueError:
                continue  # ingestion quarantines it with the reason
    return sorted(groups)


def _group_folder_level(exec_properties: dict[str, Any]) -> int | None:
    """The group sub-folder level, or None (-1 and unset mean no folder grouping)."""
    level = exec_properties.get(GROUP_FOLDER_LEVEL_KEY)
    return int(level) if level not in (None, "", -1) else None


def _options(exec_properties: dict[str, Any], output_config, root: str) -> _Options:
    splits = output_config.split_config.splits
    regex = exec_properties.get(GROUP_REGEX_KEY) or None
    level = _group_folder_level(exec_properties)
    rules = split_plan.SplitRules(
        split_names=tuple(split.name for split in splits),
        weights=tuple(split.hash_buckets for split in splits),
        seed=exec_properties.get(SPLIT_SEED_KEY) or "signpipe",
        grouped=bool(regex) or level is not None,
        pinned_groups=json.loads(exec_properties.get(PINNED_GROUPS_KEY) or "{}"),
        test_groups=tuple(json.loads(exec_properties.get(TEST_GROUPS_KEY) or "[]")),
        train_eval_by_group=bool(exec_properties.get(TRAIN_EVAL_BY_GROUP_KEY)),
        folds=int(exec_properties.get(FOLDS_KEY) or 0),
    )
    hands = exec_properties.get(HAND_ANALYSIS_KEY)
    return _Options(
        root=root,
        rules=rules,
        group_regex=regex,
        group_folder_level=level,
        hand_min_confidence=(
            float(exec_properties.get(HAND_MIN_CONFIDENCE_KEY) or 0.5) if hands else None
        ),
    )


class Executor(base_beam_executor.BaseBeamExecutor):
    """Ingests `<root>/<label>/<image>` into split tf.Example TFRecords and a report."""

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Run the ingestion Beam pipeline and record its counts on the artifact."""
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
        )
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
        )
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        pattern = input_config.splits[0].pattern
        resolved = resolve_unresolved_span(
            input_base, input_config, exec_properties.get(standard_component_specs.RANGE_CONFIG_KEY)
        )
        if resolved:
            pattern, span, version = resolved
            examples.set_int_custom_property("span", span)
            if version is not None:
                examples.version = version
        # TFX's driver records the span as a custom property; StatisticsGen copies the
        # `span` property to the statistics, where the previous span is looked up.
        examples.span = examples.get_int_custom_property("span")
        root = folder_layout.resolved_root(
            input_base, pattern, _group_folder_level(exec_properties)
        )
        folders = _class_folders(root)
        labels = sorted({folder_layout.label_of(folder) for folder in folders})
        options = _options(exec_properties, output_config, root)

        examples.split_names = artifact_utils.encode_split_names(list(options.split_names))
        file_format = exec_properties.get(
            standard_component_specs.OUTPUT_FILE_FORMAT_KEY, example_gen_pb2.FORMAT_TFRECORDS_GZIP
        )
        logging.info("Ingesting images from %s", root)
        with self._make_beam_pipeline() as pipeline:
            read = (
                pipeline
                | "ClassFolders" >> beam.Create([f"{root}/{folder}" for folder in folders])
                | "ListFiles"
                >> beam.FlatMap(
                    list_files, folder_layout.file_depth(options.group_folder_level) - 1
                )
                | "Spread" >> beam.Reshuffle()
                | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=64)
                | "ReadImages"
                >> beam.ParDo(
                    ReadImages(
                        root,
                        options.group_regex,
                        options.group_folder_level,
                        options.hand_min_confidence,
                    )
                ).with_outputs(QUARANTINE, main="ok")
            )
            unique = (
                read.ok
                | "ByContent" >> beam.GroupByKey()
                | "KeepOneCopy"
                >> beam.FlatMap(_keep_one_copy).with_outputs(QUARANTINE, "duplicates", main="ok")
            )
            assigned, plan = unique.ok | "AssignSplits" >> _AssignSplits(options)  # pylint: disable=no-value-for-parameter
            with_group = options.grouped
            with_hand = options.hand_min_confidence is not None
            for split in options.split_names:
                (
                    assigned
                    | f"Only[{split}]" >> beam.Filter(lambda kv, name=split: kv[0] == name)
                    | f"ToExample[{split}]"
                    >> beam.Map(lambda kv: _to_example(kv[1], with_group, with_hand))
                    | f"WriteSplit[{split}]"
                    >> write_split.WriteSplit(
                        artifact_utils.get_split_uri([examples], split),
                        file_format,
                        exec_properties,
                    )
                )
            quarantined = (
                read[QUARANTINE],
                unique[QUARANTINE],
            ) | "AllQuarantined" >> beam.Flatten()
            counts = (
                assigned
                | "SplitLabel" >> beam.Map(lambda kv: (kv[0], kv[1].label))
                | "CountSplitLabel" >> beam.combiners.Count.PerElement()
            )
            hands = (
                assigned
                | "SplitHand" >> beam.Map(lambda kv: (kv[0], int(kv[1].facts.hand.found)))
                | "CountHands" >> beam.CombinePerKey(sum)
            )
            (
                pipeline
                | "ReportSeed" >> beam.Create([None])
                | "BuildReport"
                >> beam.Map(
                    _build_report,
                    options,
                    plan=beam.pvalue.AsSingleton(plan),
                    quarantined=beam.pvalue.AsList(quarantined),
                    duplicates=beam.pvalue.AsList(unique.duplicates),
                    counts=beam.pvalue.AsList(counts),
                    hands=beam.pvalue.AsList(hands),
                    labels=labels,
                )
                | "WriteReport"
                >> beam.Map(lambda report: ingestion_report.write_report(examples.uri, report))
            )
        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, write_split.to_file_format_str(file_format))
        report = ingestion_report.read_report(examples.uri)
        for key, value in report["totals"].items():
            examples.set_int_custom_property(key, value)
        totals = report["totals"]
        progress_log.report(
            "ImageFolderExampleGen",
            f"{totals['examples']} images ingested, {totals['quarantined']} quarantined, "
            f"{totals['duplicates_dropped']} duplicates dropped"
            + (f", a hand found in {totals['hands_found']}" if report["hands_found"] else ""),
            milestone=True,
        )
        _check_outcome(report, examples.uri)


def _check_outcome(report: dict[str, Any], uri: str) -> None:
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
