"""The data report from already-loaded values: findings, the HTML page and its verdicts."""

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2

from signpipe.components.data_validation_report import (
    data_checks,
    drift_section,
    hands_section,
    report_page,
)
from signpipe.models import features

# (split, names, whole=()) -> that split's example rows, like executor.iter_examples.
RowReader = Callable[..., Iterator[dict]]
NOT_COMPARED = "not compared (no {SPAN} in the data root, or a Kubeflow build)"
_MAX_LISTED_FILES = 20


@dataclasses.dataclass(frozen=True)
class Limits:
    """The project's own checks' thresholds (the component's execution properties)."""

    max_class_imbalance: float
    min_image_side: int
    min_images_per_class: int
    min_hand_detection_rate: float
    samples_per_class: int


@dataclasses.dataclass(frozen=True)
class DataReportPage:
    """The built report: its page, its findings and the one-line verdicts."""

    html: str
    findings: list[report_page.Finding]
    drift_verdict: str
    hands_found: str


def sample_images(rows: Iterable[dict], labels: list[str], per_class: int) -> dict:
    """The first few encoded images of every label, from rows of label and image."""
    samples = {label: [] for label in labels}
    wanted = len(labels) * per_class
    for row in rows:
        bucket = samples.setdefault(row[features.LABEL_KEY].decode(), [])
        if len(bucket) < per_class:
            bucket.append(row[features.IMAGE_KEY])
            wanted -= 1
            if wanted <= 0:
                break
    return samples


def small_images(rows: Iterable[dict], min_side: int) -> tuple[list[str], int]:
    """Paths (some) and count of images with a side under min_side, from rows of
    height, width and source path."""
    offenders, total = [], 0
    for row in rows:
        if min(row[features.HEIGHT_KEY], row[features.WIDTH_KEY]) < min_side:
            total += 1
            if len(offenders) < _MAX_LISTED_FILES:
                offenders.append(row[features.SOURCE_PATH_KEY].decode())
    return offenders, total


def span_drift(
    span: int,
    current: dict[str, drift_section.Statistics],
    previous_span: int | None,
    previous: dict[str, drift_section.Statistics],
    comparisons: dict[str, anomalies_pb2.Anomalies],
) -> drift_section.SpanDrift:
    """This span against the previous one; previous_span None: this is the first span."""
    if previous_span is None:
        return drift_section.SpanDrift(
            span=span,
            previous_span=None,
            current=current,
            previous={},
            comparisons={},
            why_none=f"span {span} is the first span ingested (no lower span has statistics "
            "with the same splits)",
        )
    return drift_section.SpanDrift(
        span=span,
        previous_span=previous_span,
        current=current,
        previous=previous,
        comparisons=comparisons,
    )


def build_report(
    ingestion: Mapping[str, Any],
    statistics: dict[str, drift_section.Statistics],
    anomalies: Mapping[str, anomalies_pb2.Anomalies],
    read_rows: RowReader,
    limits: Limits,
    span: int,
    examples_uri: str,
    drift: drift_section.SpanDrift | None = None,
) -> DataReportPage:
    """Check the data and render the page, from the ingestion report and each split's
    statistics, anomalies and example rows (the splits are the statistics' keys, in order)."""
    splits = list(statistics)
    min_side = limits.min_image_side
    findings = []
    for split in splits:
        findings += report_page.findings_from_anomalies(split, anomalies[split])
        side = data_checks.smallest_side(statistics[split])
        if side is not None and side < min_side:
            offenders, total = small_images(
                read_rows(
                    split, (features.HEIGHT_KEY, features.WIDTH_KEY, features.SOURCE_PATH_KEY)
                ),
                min_side,
            )
            findings.append(data_checks.small_image_finding(split, min_side, offenders, total))
    findings += data_checks.class_balance_findings(
        data_checks.merge_fold_parts(ingestion["counts"]),
        ingestion["labels"],
        limits.max_class_imbalance,
    )
    findings += data_checks.too_few_images_findings(
        ingestion["counts"], limits.min_images_per_class
    )
    hands = hands_section.collect_hands(
        {
            split: read_rows(split, hands_section.HAND_FEATURES, hands_section.WHOLE_FEATURES)
            for split in splits
        }
    )
    hand_floor = limits.min_hand_detection_rate
    hands_found = hands_section.summary(hands)
    findings += data_checks.hand_detection_findings(hands.found, hands.images, hand_floor)
    drift_html, drift_verdict = "", NOT_COMPARED
    if drift is not None:
        drift_findings = drift_section.drift_findings(drift)
        findings += drift_findings
        drift_html = drift_section.render_drift(drift, drift_findings)
        drift_verdict = drift_section.verdict(drift, drift_findings)

    inputs = report_page.ReportInputs(
        title="signpipe data validation",
        statistics=statistics,
        findings=findings,
        class_counts=ingestion["counts"],
        quarantined=[report_page.QuarantinedFile(**row) for row in ingestion["quarantined"]],
        duplicates=ingestion["totals"]["duplicates_dropped"],
        samples=sample_images(
            read_rows(splits[0], (features.LABEL_KEY, features.IMAGE_KEY)),
            ingestion["labels"],
            limits.samples_per_class,
        ),
        facts={
            "Data root": ingestion["data_root"],
            "Span": str(span),
            "Split by": ingestion["split_by"],
            "Examples": str(ingestion["totals"]["examples"]),
            "Accuracy margin (95%, at most)": data_checks.accuracy_margins(ingestion["counts"]),
            "Quarantined files": str(ingestion["totals"]["quarantined"]),
            "Examples artifact": examples_uri,
            "Drift": drift_verdict,
            "Hands found": hands_found,
        },
        drift_html=drift_html,
        hands_html=hands_section.render_hands(hands, hand_floor),
    )
    return DataReportPage(report_page.render_report(inputs), findings, drift_verdict, hands_found)
