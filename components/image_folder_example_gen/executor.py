"""Beam executor: image files -> checked, de-duplicated, split tf.Examples plus a report."""

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from signpipe.components import ingestion_report
from signpipe.components.image_folder_example_gen import (
    data_root,
    duplicates,
    folder_layout,
    ingestion_summary,
    split_plan,
)
from signpipe.components.image_folder_example_gen.driver import resolve_unresolved_span
from signpipe.components.image_folder_example_gen.image_example import image_example
from signpipe.components.image_folder_example_gen.ingestion_summary import IngestOptions
from signpipe.components.image_folder_example_gen.read_images import (
    QUARANTINE,
    Image,
    ReadImages,
    with_bytes_again,
)
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
RECORD_ORDER_KEY = "record_order"
# The one record order written; a cached ingestion from before it (class-folder order) has
# another value or none, so TFX runs ingestion again rather than reuse it.
RECORD_ORDER = "path_hash"
# Buckets of the record-order sort: each holds 1/16 of a split (every class, in random
# order) while it is sorted; the buckets leave in the order their first image came.
ORDER_BUCKETS = 16


def _keep_one_copy(item: tuple[str, Iterable[Image]]):
    """Keep the first of identical files, tagging the quarantined and dropped ones."""
    content_hash, copies = item
    choice = duplicates.keep_one_copy(copies)
    for row in choice.quarantined:
        yield beam.pvalue.TaggedOutput(QUARANTINE, row)
    if choice.duplicates:
        yield beam.pvalue.TaggedOutput("duplicates", choice.duplicates)
    if choice.kept is not None:
        yield content_hash, choice.kept


def _order_key(image: Image) -> int:
    """A stable pseudo-random number of the image's path, the records' order in a split."""
    return int.from_bytes(hashlib.blake2b(image.path.encode(), digest_size=8).digest(), "big")


@beam.ptransform_fn
def _InPathHashOrder(images):
    """Images in the order of `_order_key`, not in class-folder order.

    Files are listed one class folder at a time, and the runner keeps that order: a reader
    that shuffles through a bounded buffer (the Trainer streams its batches) would see one
    or two classes at a time. A random bucket of every class at a time, sorted, is not.
    """
    return (
        images
        | "ByBucket" >> beam.Map(lambda image: (_order_key(image) % ORDER_BUCKETS, image))
        | "Buckets" >> beam.GroupByKey()
        | "SortBucket" >> beam.FlatMap(lambda kv: sorted(kv[1], key=_order_key))
    )


@beam.ptransform_fn
def _AssignSplits(images, options: IngestOptions):
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


def _report(_, options: IngestOptions, **side_outputs) -> dict[str, Any]:
    """The ingestion report, from the Beam seed element and the pipeline's side outputs."""
    return ingestion_summary.assemble_report(options, **side_outputs)


def _group_folder_level(exec_properties: dict[str, Any]) -> int | None:
    """The group sub-folder level, or None (-1 and unset mean no folder grouping)."""
    level = exec_properties.get(GROUP_FOLDER_LEVEL_KEY)
    return int(level) if level not in (None, "", -1) else None


def _options(exec_properties: dict[str, Any], output_config, root: str) -> IngestOptions:
    """The Beam stages' options from the execution properties."""
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
    return IngestOptions(
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
        folders = data_root.class_folders(root)
        labels = sorted({folder_layout.label_of(folder) for folder in folders})
        options = _options(exec_properties, output_config, root)

        examples.split_names = artifact_utils.encode_split_names(list(options.split_names))
        file_format = exec_properties.get(
            standard_component_specs.OUTPUT_FILE_FORMAT_KEY, example_gen_pb2.FORMAT_TFRECORDS_GZIP
        )
        logging.info("Ingesting images from %s", root)
        with self._make_beam_pipeline() as pipeline:
            files = (
                pipeline
                | "ClassFolders" >> beam.Create([f"{root}/{folder}" for folder in folders])
                | "ListFiles"
                >> beam.FlatMap(
                    data_root.list_files, folder_layout.file_depth(options.group_folder_level) - 1
                )
            )
            total = files | "CountFiles" >> beam.combiners.Count.Globally()
            read = (
                files
                | "Spread" >> beam.Reshuffle()
                | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=64)
                | "ReadImages"
                >> beam.ParDo(
                    ReadImages(
                        root,
                        options.group_regex,
                        options.group_folder_level,
                        options.hand_min_confidence,
                    ),
                    total=beam.pvalue.AsSingleton(total),
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
                    | f"Images[{split}]" >> beam.Values()
                    | f"InPathHashOrder[{split}]" >> _InPathHashOrder()  # pylint: disable=no-value-for-parameter
                    | f"ReadAgain[{split}]" >> beam.Map(with_bytes_again)
                    | f"ToExample[{split}]"
                    >> beam.Map(lambda image: image_example(image, with_group, with_hand))
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
                    _report,
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
        ingestion_summary.check_outcome(report, examples.uri)
