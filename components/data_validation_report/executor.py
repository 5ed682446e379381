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

from signpipe.components.data_validation_report import data_checks, report_page
from signpipe.components.image_folder_example_gen import ingestion_report

MAX_CLASS_IMBALANCE_KEY = "max_class_imbalance"
MIN_IMAGE_SIDE_KEY = "min_image_side"
SAMPLES_PER_CLASS_KEY = "samples_per_class"
REPORT_FILE = "index.html"
FINDINGS_FILE = "findings.json"
_ANOMALIES_FILE = "SchemaDiff.pb"
_MAX_LISTED_FILES = 20


def split_records(examples: Artifact, split: str) -> Iterator[bytes]:
    """Yield each serialized tf.Example of one split, in file order."""
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
    files = sorted(fileio.glob(pattern))
    yield from tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()


def iter_examples(examples: Artifact, split: str, features: tuple[str, ...]) -> Iterator[dict]:
    """Yield the named features of each example in one split, as Python values."""
    for record in split_records(examples, split):
        example = tf.train.Example.FromString(record).features.feature
        row = {}
        for name in features:
            feature = example[name]
            kind = feature.WhichOneof("kind")
            values = getattr(feature, kind).value if kind else []
            row[name] = values[0] if values else None
        yield row


def _samples(examples: Artifact, split: str, labels: list[str], per_class: int) -> dict:
    """The first few encoded images of every label in a split."""
    samples = {label: [] for label in labels}
    wanted = len(labels) * per_class
    for row in iter_examples(examples, split, ("label", "image_raw")):
        bucket = samples.setdefault(row["label"].decode(), [])
        if len(bucket) < per_class:
            bucket.append(row["image_raw"])
            wanted -= 1
            if wanted <= 0:
                break
    return samples


def _small_images(examples: Artifact, split: str, min_side: int) -> tuple[list[str], int]:
    """Paths (some) and count of images in a split with a side under min_side."""
    offenders, total = [], 0
    for row in iter_examples(examples, split, ("height", "width", "source_path")):
        if min(row["height"], row["width"]) < min_side:
            total += 1
            if len(offenders) < _MAX_LISTED_FILES:
                offenders.append(row["source_path"].decode())
    return offenders, total


def _load_anomalies(anomalies: Artifact, split: str) -> anomalies_pb2.Anomalies:
    """ExampleValidator's anomalies proto for one split."""
    path = os.path.join(artifact_utils.get_split_uri([anomalies], split), _ANOMALIES_FILE)
    with fileio.open(path, "rb") as handle:
        return anomalies_pb2.Anomalies.FromString(handle.read())


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
            ingestion["counts"], ingestion["labels"], exec_properties[MAX_CLASS_IMBALANCE_KEY]
        )

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
                "Quarantined files": str(ingestion["totals"]["quarantined"]),
                "Examples artifact": examples.uri,
            },
        )
        report_path = os.path.join(report_artifact.uri, REPORT_FILE)
        with fileio.open(report_path, "w") as handle:
            handle.write(report_page.render_report(inputs))
        with fileio.open(os.path.join(report_artifact.uri, FINDINGS_FILE), "w") as handle:
            handle.write(json.dumps([dataclasses.asdict(f) for f in findings], indent=2))
        errors = [f for f in findings if f.severity == "error"]
        report_artifact.set_int_custom_property("anomalies", len(findings))
        report_artifact.set_int_custom_property("errors", len(errors))
        logging.info("Data validation report: %s (%d findings)", report_path, len(findings))
