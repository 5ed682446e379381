"""Executor: gather the data half's results into the HTML report and a findings list."""

import dataclasses
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
from signpipe.components.data_validation_report import (
    data_checks,
    drift_section,
    hands_section,
    report_page,
)
from signpipe.models import features

MAX_CLASS_IMBALANCE_KEY = "max_class_imbalance"
MIN_IMAGE_SIDE_KEY = "min_image_side"
MIN_IMAGES_PER_CLASS_KEY = "min_images_per_class"
MIN_HAND_DETECTION_RATE_KEY = "min_hand_detection_rate"
SAMPLES_PER_CLASS_KEY = "samples_per_class"
_ANOMALIES_FILE = "SchemaDiff.pb"
_MAX_LISTED_FILES = 20


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


def _samples(examples: Artifact, split: str, labels: list[str], per_class: int) -> dict:
    """The first few encoded images of every label in a split."""
    samples = {label: [] for label in labels}
    wanted = len(labels) * per_class
    for row in iter_examples(examples, split, (features.LABEL_KEY, features.IMAGE_KEY)):
        bucket = samples.setdefault(row[features.LABEL_KEY].decode(), [])
        if len(bucket) < per_class:
            bucket.append(row[features.IMAGE_KEY])
            wanted -= 1
            if wanted <= 0:
                break
    return samples


def _small_images(examples: Artifact, split: str, min_side: int) -> tuple[list[str], int]:
    """Paths (some) and count of images in a split with a side under min_side."""
    offenders, total = [], 0
    for row in iter_examples(
        examples, split, (features.HEIGHT_KEY, features.WIDTH_KEY, features.SOURCE_PATH_KEY)
    ):
        if min(row[features.HEIGHT_KEY], row[features.WIDTH_KEY]) < min_side:
            total += 1
            if len(offenders) < _MAX_LISTED_FILES:
                offenders.append(row[features.SOURCE_PATH_KEY].decode())
    return offenders, total


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
    input_dict: dict[str, list[Any]], examples: Artifact, current: dict
) -> drift_section.SpanDrift | None:
    """This span against the previous one; None when the pipeline compares no spans."""
    drift = input_dict.get("drift") or []
    if not drift:
        return None
    span = examples.get_int_custom_property("span")
    baseline = input_dict.get("baseline_statistics") or []
    previous_span = drift[0].get_int_custom_property(BASELINE_SPAN_PROPERTY)
    if not baseline or previous_span < 0:
        return drift_section.SpanDrift(
            span=span,
            previous_span=None,
            current=current,
            previous={},
            comparisons={},
            why_none=f"span {span} is the first span ingested (no lower span has statistics "
            "with the same splits)",
        )
    previous = {
        split: stats_artifact_utils.load_statistics(baseline[0], split).proto()
        for split in artifact_utils.decode_split_names(baseline[0].split_names)
    }
    return drift_section.SpanDrift(
        span=span,
        previous_span=previous_span,
        current=current,
        previous=previous,
        comparisons=_load_comparisons(drift[0]),
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
        min_side = exec_properties[MIN_IMAGE_SIDE_KEY]

        stats_by_split, findings = {}, []
        for split in splits:
            stats_by_split[split] = stats_artifact_utils.load_statistics(statistics, split).proto()
            findings += report_page.findings_from_anomalies(
                split, _load_anomalies(anomalies, split)
            )
            side = data_checks.smallest_side(stats_by_split[split])
            if side is not None and side < min_side:
                offenders, total = _small_images(examples, split, min_side)
                findings.append(data_checks.small_image_finding(split, min_side, offenders, total))
        findings += data_checks.class_balance_findings(
            data_checks.merge_fold_parts(ingestion["counts"]),
            ingestion["labels"],
            exec_properties[MAX_CLASS_IMBALANCE_KEY],
        )
        findings += data_checks.too_few_images_findings(
            ingestion["counts"], exec_properties[MIN_IMAGES_PER_CLASS_KEY]
        )
        hands = hands_section.collect_hands(
            {
                split: iter_examples(
                    examples, split, hands_section.HAND_FEATURES, hands_section.WHOLE_FEATURES
                )
                for split in splits
            }
        )
        hand_floor = exec_properties[MIN_HAND_DETECTION_RATE_KEY]
        hands_found = hands_section.summary(hands)
        findings += data_checks.hand_detection_findings(hands.found, hands.images, hand_floor)
        drift = _span_drift(input_dict, examples, stats_by_split)
        drift_html, drift_verdict = (
            "",
            "not compared (no {SPAN} in the data root, or a Kubeflow build)",
        )
        if drift is not None:
            drift_findings = drift_section.drift_findings(drift)
            findings += drift_findings
            drift_html = drift_section.render_drift(drift, drift_findings)
            drift_verdict = drift_section.verdict(drift, drift_findings)

        inputs = report_page.ReportInputs(
            title="signpipe data validation",
            statistics=stats_by_split,
            findings=findings,
            class_counts=ingestion["counts"],
            quarantined=[report_page.QuarantinedFile(**row) for row in ingestion["quarantined"]],
            duplicates=ingestion["totals"]["duplicates_dropped"],
            samples=_samples(
                examples, splits[0], ingestion["labels"], exec_properties[SAMPLES_PER_CLASS_KEY]
            ),
            facts={
                "Data root": ingestion["data_root"],
                "Span": str(examples.get_int_custom_property("span")),
                "Split by": ingestion["split_by"],
                "Examples": str(ingestion["totals"]["examples"]),
                "Accuracy margin (95%, at most)": data_checks.accuracy_margins(ingestion["counts"]),
                "Quarantined files": str(ingestion["totals"]["quarantined"]),
                "Examples artifact": examples.uri,
                "Drift": drift_verdict,
                "Hands found": hands_found,
            },
            drift_html=drift_html,
            hands_html=hands_section.render_hands(hands, hand_floor),
        )
        report_path = os.path.join(report_artifact.uri, DataReport.PAGE_FILE)
        fileio.makedirs(report_artifact.uri)  # orchestrators other than TFX's make none
        with fileio.open(report_path, "w") as handle:
            handle.write(report_page.render_report(inputs))
        with fileio.open(
            os.path.join(report_artifact.uri, DataReport.FINDINGS_FILE), "w"
        ) as handle:
            handle.write(json.dumps([dataclasses.asdict(f) for f in findings], indent=2))
        errors = [f for f in findings if f.severity == "error"]
        report_artifact.set_int_custom_property("anomalies", len(findings))
        report_artifact.set_int_custom_property("errors", len(errors))
        report_artifact.set_string_custom_property(DataReport.DRIFT_PROPERTY, drift_verdict)
        report_artifact.set_string_custom_property(DataReport.HANDS_PROPERTY, hands_found)
        logging.info("Data validation report: %s (%d findings)", report_path, len(findings))
