"""Executor: gather the data half's results into the HTML report and a findings list."""

import dataclasses
import functools
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact

from signpipe.components import ingestion_report
from signpipe.components.artifacts import BASELINE_SPAN_PROPERTY, DataReport
from signpipe.components.data_validation_report import build_report, drift_section

MAX_CLASS_IMBALANCE_KEY = "max_class_imbalance"
MIN_IMAGE_SIDE_KEY = "min_image_side"
MIN_IMAGES_PER_CLASS_KEY = "min_images_per_class"
MIN_HAND_DETECTION_RATE_KEY = "min_hand_detection_rate"
SAMPLES_PER_CLASS_KEY = "samples_per_class"
_ANOMALIES_FILE = "SchemaDiff.pb"


def split_records(examples: Artifact, split: str) -> Iterator[bytes]:
    """Yield each serialized tf.Example of one split, in file order."""
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
    files = sorted(fileio.glob(pattern))
    yield from tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()


def iter_examples(
    examples: Artifact, split: str, names: tuple[str, ...], whole: tuple[str, ...] = ()
) -> Iterator[dict]:
    """Yield the named features of each example in one split, as Python values.

    A feature's first value (None when absent), or for the names in `whole` its value list.
    """
    for record in split_records(examples, split):
        example = tf.train.Example.FromString(record).features.feature
        row = {}
        for name in names:
            feature = example[name]
            kind = feature.WhichOneof("kind")
            values = getattr(feature, kind).value if kind else []
            row[name] = list(values) if name in whole else values[0] if values else None
        yield row


def _load_anomalies(anomalies: Artifact, split: str) -> anomalies_pb2.Anomalies:
    """ExampleValidator's anomalies proto for one split."""
    path = os.path.join(artifact_utils.get_split_uri([anomalies], split), _ANOMALIES_FILE)
    with fileio.open(path, "rb") as handle:
        return anomalies_pb2.Anomalies.FromString(handle.read())


def _load_comparisons(drift: Artifact) -> dict[str, anomalies_pb2.Anomalies]:
    """The SpanDriftValidator's result per split pair (written as `SplitPair-<pair>`)."""
    comparisons = {}
    for pair in artifact_utils.decode_split_names(drift.split_names):
        path = os.path.join(drift.uri, f"SplitPair-{pair}", _ANOMALIES_FILE)
        with fileio.open(path, "rb") as handle:
            comparisons[pair] = anomalies_pb2.Anomalies.FromString(handle.read())
    return comparisons


def _span_drift(
    input_dict: dict[str, list[Any]], span: int, current: dict
) -> drift_section.SpanDrift | None:
    """This span against the previous one; None when the pipeline compares no spans."""
    drift = input_dict.get("drift") or []
    if not drift:
        return None
    baseline = input_dict.get("baseline_statistics") or []
    previous_span = drift[0].get_int_custom_property(BASELINE_SPAN_PROPERTY)
    if not baseline or previous_span < 0:
        return build_report.span_drift(span, current, None, {}, {})
    previous = {
        split: stats_artifact_utils.load_statistics(baseline[0], split).proto()
        for split in artifact_utils.decode_split_names(baseline[0].split_names)
    }
    return build_report.span_drift(
        span, current, previous_span, previous, _load_comparisons(drift[0])
    )


class Executor(base_executor.BaseExecutor):
    """Writes `index.html` and `findings.json` into the report artifact."""

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Build the report from ExampleGen, StatisticsGen and ExampleValidator outputs."""
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        statistics = artifact_utils.get_single_instance(input_dict["statistics"])
        anomalies = artifact_utils.get_single_instance(input_dict["anomalies"])
        report_artifact = artifact_utils.get_single_instance(output_dict["report"])
        ingestion = ingestion_report.read_report(examples.uri)
        splits = artifact_utils.decode_split_names(examples.split_names)
        span = examples.get_int_custom_property("span")
        stats_by_split = {
            split: stats_artifact_utils.load_statistics(statistics, split).proto()
            for split in splits
        }
        page = build_report.build_report(
            ingestion=ingestion,
            statistics=stats_by_split,
            anomalies={split: _load_anomalies(anomalies, split) for split in splits},
            read_rows=functools.partial(iter_examples, examples),
            limits=build_report.Limits(
                max_class_imbalance=exec_properties[MAX_CLASS_IMBALANCE_KEY],
                min_image_side=exec_properties[MIN_IMAGE_SIDE_KEY],
                min_images_per_class=exec_properties[MIN_IMAGES_PER_CLASS_KEY],
                min_hand_detection_rate=exec_properties[MIN_HAND_DETECTION_RATE_KEY],
                samples_per_class=exec_properties[SAMPLES_PER_CLASS_KEY],
            ),
            span=span,
            examples_uri=examples.uri,
            drift=_span_drift(input_dict, span, stats_by_split),
        )
        findings = page.findings
        report_path = os.path.join(report_artifact.uri, DataReport.PAGE_FILE)
        fileio.makedirs(report_artifact.uri)  # orchestrators other than TFX's make none
        with fileio.open(report_path, "w") as handle:
            handle.write(page.html)
        with fileio.open(
            os.path.join(report_artifact.uri, DataReport.FINDINGS_FILE), "w"
        ) as handle:
            handle.write(json.dumps([dataclasses.asdict(f) for f in findings], indent=2))
        errors = [f for f in findings if f.severity == "error"]
        report_artifact.set_int_custom_property("anomalies", len(findings))
        report_artifact.set_int_custom_property("errors", len(errors))
        report_artifact.set_string_custom_property(DataReport.DRIFT_PROPERTY, page.drift_verdict)
        report_artifact.set_string_custom_property(DataReport.HANDS_PROPERTY, page.hands_found)
        logging.info("Data validation report: %s (%d findings)", report_path, len(findings))
