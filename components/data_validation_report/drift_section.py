"""The report's drift section: this span against the previous one, feature by feature."""

import dataclasses

import jinja2
from matplotlib.figure import Figure
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from signpipe.components.data_validation_report.report_page import (
    Finding,
    draw_histogram,
    features_by_name,
    findings_from_anomalies,
    standard_buckets,
)
from signpipe.components.html_parts import png_uri
from signpipe.models import features

Statistics = statistics_pb2.DatasetFeatureStatisticsList
_PREVIOUS, _CURRENT = "#9e9e9e", "#3366cc"
_MEASURES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "L-infinity",
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "Jensen-Shannon",
}


@dataclasses.dataclass
class SpanDrift:
    """A span's statistics, the previous span's, and TFDV's comparison per split pair."""

    span: int
    previous_span: int | None  # None: nothing to compare with
    current: dict[str, Statistics]  # split -> statistics of this span
    previous: dict[str, Statistics]  # split -> statistics of the previous span
    comparisons: dict[str, anomalies_pb2.Anomalies]  # split pair (train_train) -> result
    why_none: str = ""  # why there is no previous span, in words


def _values(stats: dict[str, Statistics], feature: str) -> set[str]:
    """Every value of a categorical feature over all splits (from the rank histograms)."""
    values = set()
    for split_stats in stats.values():
        found = features_by_name(split_stats).get(feature)
        if found is not None and found.HasField("string_stats"):
            values |= {b.label for b in found.string_stats.rank_histogram.buckets}
    return values


def set_changes(drift: SpanDrift, feature: str) -> tuple[list[str], list[str]]:
    """(new, vanished) values of a categorical feature between the two spans."""
    now, before = _values(drift.current, feature), _values(drift.previous, feature)
    return sorted(now - before), sorted(before - now)


def drift_findings(drift: SpanDrift) -> list[Finding]:
    """Distances over their thresholds (TFDV), new or vanished classes, and signers.

    TFDV gives a distance per feature, not which classes or groups appeared or vanished:
    those are read from the two spans' value lists here. A class that vanished or appeared
    is an error; a new or vanished signer is a warning, as new people are expected but the
    model has not seen them.
    """
    if drift.previous_span is None:
        return []
    findings = []
    for pair, anomalies in drift.comparisons.items():
        for finding in findings_from_anomalies(pair, anomalies):
            finding.short = f"drift against span {drift.previous_span}: {finding.short}"
            findings.append(finding)
    where = f"span {drift.span} against span {drift.previous_span}"
    for feature, what, severity in (
        (features.LABEL_KEY, "class", "error"),
        (features.GROUP_KEY, "group", "warning"),
    ):
        new, vanished = set_changes(drift, feature)
        for names, change in ((new, "new"), (vanished, "vanished")):
            if names:
                findings.append(
                    Finding(
                        split="(span)",
                        field=feature,
                        severity=severity,
                        short=f"{change} {what}(es)" if what == "class" else f"{change} {what}s",
                        detail=f"{where}: {change} {what} values {names}. "
                        + _ADVICE[(what, change)],
                    )
                )
    return findings


_ADVICE = {
    ("class", "new"): "Check the folder names; a model trained on this span has classes the "
    "previous one lacked.",
    ("class", "vanished"): "A class folder is missing or has no usable image in this span: "
    "add its images, or pass --allow-anomalies if dropping it is intended.",
    ("group", "new"): "New signers or sessions: the model has not seen them; check their "
    "images in the samples.",
    ("group", "vanished"): "Signers or sessions of the previous span are missing here.",
}


def _measurements(drift: SpanDrift) -> list[dict]:
    """One row per split pair and compared feature: distance, threshold, verdict."""
    rows = []
    for pair, anomalies in drift.comparisons.items():
        for info in anomalies.drift_skew_info:
            for measure in info.drift_measurements:
                rows.append(
                    {
                        "pair": pair,
                        "feature": ".".join(info.path.step),
                        "measure": _MEASURES.get(measure.type, str(measure.type)),
                        "value": measure.value,
                        "threshold": measure.threshold,
                        "over": measure.value > measure.threshold,
                    }
                )
    return rows


def _overlay(feature: str, before, now, previous_span: int, span: int) -> str | None:
    """Previous and current distribution of one feature in one figure, as shares."""
    fig = Figure(figsize=(5.0, 2.6), dpi=100)
    ax = fig.add_subplot()
    if before.HasField("num_stats"):
        series = [(standard_buckets(before), _PREVIOUS), (standard_buckets(now), _CURRENT)]
        if not all(buckets for buckets, _ in series):
            return None
        for (buckets, color), name in zip(series, (previous_span, span), strict=True):
            draw_histogram(ax, buckets, color, f"span {name}", share=True)
    elif before.HasField("string_stats"):
        shares = []
        for feature_stats in (before, now):
            buckets = feature_stats.string_stats.rank_histogram.buckets
            total = sum(b.sample_count for b in buckets) or 1.0
            shares.append({b.label: b.sample_count / total for b in buckets})
        labels = sorted(set(shares[0]) | set(shares[1]))
        positions = range(len(labels))
        for offset, share, color, name in (
            (-0.2, shares[0], _PREVIOUS, previous_span),
            (0.2, shares[1], _CURRENT, span),
        ):
            ax.bar(
                [p + offset for p in positions],
                [share.get(label, 0.0) for label in labels],
                width=0.4,
                color=color,
                label=f"span {name}",
            )
        ax.set_xticks(list(positions), labels, fontsize=7, rotation=90 if len(labels) > 12 else 0)
    else:
        return None
    ax.set_title(feature, fontsize=10)
    ax.set_ylabel("share of split", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png_uri(fig)


def _charts(drift: SpanDrift, names: list[str]) -> list[dict]:
    """An overlay per compared feature, on the first split both spans have."""
    common = [split for split in drift.current if split in drift.previous]
    if not common:
        return []
    split = common[0]
    before = features_by_name(drift.previous[split])
    now = features_by_name(drift.current[split])
    charts = []
    for feature in names:
        if feature in before and feature in now:
            uri = _overlay(feature, before[feature], now[feature], drift.previous_span, drift.span)
            if uri:
                charts.append({"feature": feature, "split": split, "uri": uri})
    return charts


def verdict(drift: SpanDrift, findings: list[Finding]) -> str:
    """One line: what was compared and whether anything drifted."""
    if drift.previous_span is None:
        return f"nothing to compare with: {drift.why_none}"
    if not findings:
        return f"span {drift.span} against span {drift.previous_span}: within every threshold"
    over = sorted({f"{f.field} ({f.short.rpartition(': ')[2]})" for f in findings})
    return f"span {drift.span} against span {drift.previous_span}: " + "; ".join(over)


def render_drift(drift: SpanDrift, findings: list[Finding]) -> str:
    """The drift section's HTML, for the report page."""
    rows = _measurements(drift)
    measured = list(dict.fromkeys(row["feature"] for row in rows))
    return _TEMPLATE.render(
        drift=drift,
        verdict=verdict(drift, findings),
        bad=any(f.severity == "error" for f in findings),
        rows=rows,
        charts=_charts(drift, measured),
        changes={
            feature: set_changes(drift, feature)
            for feature in (features.LABEL_KEY, features.GROUP_KEY)
        }
        if drift.previous_span is not None
        else {},
    )


_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<section id="drift"><h2>Drift against the previous span</h2>
{% if drift.previous_span is none %}<p class="muted">Nothing to compare with: {{
 drift.why_none }}</p>{% else %}
<p class="verdict {{ 'bad' if bad else 'ok' }}">{{ verdict }}</p>
<table><tr><th>Split pair</th><th>Feature</th><th>Measure</th><th>Distance</th>
<th>Threshold</th><th>Verdict</th></tr>{% for r in rows %}<tr class="{{ 'error' if r.over
 }}"><td>{{ r.pair }}</td><td>{{ r.feature }}</td><td>{{ r.measure }}</td>
<td class="n">{{ "%.3f"|format(r.value) }}</td><td class="n">{{ "%.3f"|format(r.threshold)
 }}</td><td class="sev">{{ "over" if r.over else "within" }}</td></tr>{% endfor %}</table>
{% for feature, (new, vanished) in changes.items() %}<p>{{ feature }}: new {{ new|join(", ")
 or "none" }}; vanished {{ vanished|join(", ") or "none" }}</p>{% endfor %}
<div class="charts">{% for c in charts %}<img src="{{ c.uri }}"
 alt="{{ c.feature }} in span {{ drift.previous_span }} and span {{ drift.span }} ({{ c.split
 }})">{% endfor %}</div>{% endif %}</section>
"""
)
