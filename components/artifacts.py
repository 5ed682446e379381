"""What signpipe's steps leave in artifacts for one another: its own artifact types, the files
inside them and the custom properties it sets, each named once."""

from tfx.types import Artifact, artifact

# ExampleAnomalies from SpanDriftValidator: the span it compared with; -1, no previous span.
BASELINE_SPAN_PROPERTY = "baseline_span"

# The baseline Model from LatestBlessedModel: whether a baseline was found, from what source
# and where.
BASELINE_FOUND_PROPERTY = "baseline_found"
BASELINE_SOURCE_PROPERTY = "baseline_source"
BASELINE_LOCATION_PROPERTY = "baseline_location"


class DataReport(artifact.Artifact):
    """A folder holding `index.html` and `findings.json`."""

    TYPE_NAME = "signpipe.DataReport"
    PAGE_FILE = "index.html"
    FINDINGS_FILE = "findings.json"
    DRIFT_PROPERTY = "drift"  # the one-line drift verdict
    HANDS_PROPERTY = "hands"  # the found rate, overall and per split


class TFLiteModels(artifact.Artifact):
    """A folder with `<variant>.tflite` files, `labels.txt` and the variants report."""

    TYPE_NAME = "signpipe.TFLiteModels"
    LABELS_FILE = "labels.txt"
    REPORT_JSON = "tflite_report.json"
    REPORT_HTML = "tflite_report.html"


def mark_baseline(model: Artifact, found: tuple[str, str] | None) -> None:
    """Record on a baseline Model whether, where and from what source it was found."""
    model.set_int_custom_property(BASELINE_FOUND_PROPERTY, int(found is not None))
    if found:
        model.set_string_custom_property(BASELINE_SOURCE_PROPERTY, found[0])
        model.set_string_custom_property(BASELINE_LOCATION_PROPERTY, found[1])


def has_baseline(model: Artifact) -> bool:
    """False for a baseline Model that LatestBlessedModel marked as not found (a first run)."""
    return (
        not model.has_custom_property(BASELINE_FOUND_PROPERTY)
        or model.get_int_custom_property(BASELINE_FOUND_PROPERTY) == 1
    )


def baseline_origin(model: Artifact) -> str | None:
    """`<source>: <location>` of a baseline Model found by LatestBlessedModel."""
    if not model.has_custom_property(BASELINE_SOURCE_PROPERTY):
        return None
    source = model.get_string_custom_property(BASELINE_SOURCE_PROPERTY)
    return f"{source}: {model.get_string_custom_property(BASELINE_LOCATION_PROPERTY)}"
