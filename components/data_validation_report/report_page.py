"""Render the data validation report: one self-contained HTML page per pipeline run."""

from __future__ import annotations

import dataclasses
import itertools
import math
import re

import jinja2
from matplotlib.figure import Figure
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from signpipe.components.html_parts import STYLE, png_uri, thumbnail
from signpipe.models import features

_TOP_VALUES = 5
_BYTES_PLACEHOLDER = "__BYTES_VALUE__"
_COLORS = ("#3366cc", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00")
_SMALLEST, _LARGEST = "#c62828", "#1565c0"
_STANDARD = statistics_pb2.Histogram.STANDARD


@dataclasses.dataclass
class Finding:
    """One anomaly, from TFDV or from the project's own checks."""

    split: str
    field: str
    severity: str
    short: str
    detail: str


@dataclasses.dataclass
class QuarantinedFile:
    """A source file that ingestion set aside, and why."""

    path: str
    reason: str


@dataclasses.dataclass
class ReportInputs:
    """Everything the report shows."""

    title: str
    statistics: dict[str, statistics_pb2.DatasetFeatureStatisticsList]
    findings: list[Finding]
    class_counts: dict[str, dict[str, int]]
    quarantined: list[QuarantinedFile]
    duplicates: int
    samples: dict[str, list[bytes]]
    facts: dict[str, str]
    drift_html: str = ""  # the drift section, when the data root has spans
    hands_html: str = ""  # the hands section (hands_section.render_hands)


def findings_from_anomalies(split: str, anomalies: anomalies_pb2.Anomalies) -> list[Finding]:
    """TFDV Anomalies proto -> findings (one per anomaly_info entry, plus dataset-level)."""
    infos = [
        (".".join(info.path.step) or key, info)
        for key, info in sorted(anomalies.anomaly_info.items())
    ]
    if anomalies.HasField("dataset_anomaly_info"):
        infos.append(("(dataset)", anomalies.dataset_anomaly_info))
    findings = []
    for field, info in infos:
        short = info.short_description or "; ".join(r.short_description for r in info.reason)
        detail = info.description or " ".join(r.description for r in info.reason)
        severity = "warning" if info.severity == anomalies_pb2.AnomalyInfo.WARNING else "error"
        findings.append(Finding(split, field, severity, short or "anomaly", detail))
    if anomalies.data_missing:
        detail = f"The statistics of '{split}' hold no examples: check the split's input files."
        findings.append(Finding(split, "(dataset)", "error", "no data", detail))
    return findings


def _num(value: float) -> str:
    """A number, short and readable."""
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e12:
        return f"{int(value):,}"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.1f}"


def _short(text: str, limit: int) -> str:
    """Text cut to at most limit characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mpl_text(text: str, limit: int = 24) -> str:
    """A label safe for matplotlib: shortened, and `$` not read as mathtext."""
    return _short(text, limit).replace("$", r"\$")


def _feature_name(feature: statistics_pb2.FeatureNameStatistics) -> str:
    """A feature's name: its path joined with dots, or its legacy name."""
    return ".".join(feature.path.step) or feature.name


def features_by_name(stats: statistics_pb2.DatasetFeatureStatisticsList) -> dict:
    """Name -> feature statistics of the first dataset in a statistics list."""
    return {_feature_name(f): f for f in stats.datasets[0].features} if stats.datasets else {}


def standard_buckets(feature: statistics_pb2.FeatureNameStatistics) -> list:
    """The finite buckets of a numeric feature's STANDARD histogram."""
    for histogram in feature.num_stats.histograms:
        if histogram.type == _STANDARD:
            return [b for b in histogram.buckets if math.isfinite(b.low_value + b.high_value)]
    return []


def draw_histogram(ax, buckets: list, color: str, label: str | None, share: bool) -> None:
    """Draw buckets as steps (or bars at their middles when edges do not increase)."""
    counts = [b.sample_count for b in buckets]
    if share:
        total = sum(counts) or 1.0
        counts = [c / total for c in counts]
    edges = [b.low_value for b in buckets] + [buckets[-1].high_value]
    if all(a < b for a, b in itertools.pairwise(edges)):
        ax.stairs(counts, edges, color=color, label=label, fill=not share, linewidth=1.5)
    else:
        middles = [(b.low_value + b.high_value) / 2 for b in buckets]
        ax.vlines(middles, 0, counts, color=color, label=label, linewidth=4)


def _thumb_histogram(buckets: list) -> str:
    """A small axis-less histogram image of one feature in one split."""
    fig = Figure(figsize=(1.8, 0.55), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    draw_histogram(ax, buckets, _COLORS[0], None, share=False)
    ax.set_axis_off()
    return png_uri(fig)


def _custom_value(stat: statistics_pb2.CustomStatistic) -> str:
    """A custom statistic's value as text, whatever its kind."""
    kind = stat.WhichOneof("val")
    if kind == "num":
        return _num(stat.num)
    if kind == "str":
        return stat.str
    if kind == "rank_histogram":
        return ", ".join(f"{b.label}: {_num(b.sample_count)}" for b in stat.rank_histogram.buckets)
    if kind == "histogram":
        buckets = stat.histogram.buckets
        return ", ".join(
            f"{_num(b.low_value)}–{_num(b.high_value)}: {b.sample_count:g}" for b in buckets
        )
    return kind or "(empty)"


def _feature_row(name: str, feature: statistics_pb2.FeatureNameStatistics) -> dict:
    """The report row of one feature in one split."""
    kind = feature.WhichOneof("stats")
    stats = getattr(feature, kind) if kind else None
    common = stats.common_stats if stats is not None and hasattr(stats, "common_stats") else None
    present = common.num_non_missing if common else 0
    missing = common.num_missing if common else 0
    row = {
        "name": name,
        "type": statistics_pb2.FeatureNameStatistics.Type.Name(feature.type),
        "count": _num(present),
        "missing": f"{100.0 * missing / (present + missing):.1f} %" if present + missing else "–",
        "numbers": None,
        "histogram": None,
        "facts": [],
        "top": [],
        "custom": [(c.name, _custom_value(c)) for c in feature.custom_stats],
    }
    if kind == "num_stats":
        n = feature.num_stats
        row["numbers"] = [_num(v) for v in (n.mean, n.std_dev, n.min, n.median, n.max)]
        buckets = standard_buckets(feature)
        row["histogram"] = _thumb_histogram(buckets) if buckets else None
    elif kind == "string_stats":
        s = feature.string_stats
        binary = feature.type == feature.BYTES or any(
            t.value == _BYTES_PLACEHOLDER for t in s.top_values
        )
        row["facts"] = [("unique", _num(s.unique)), ("avg length", _num(s.avg_length))]
        if not binary:
            row["top"] = [
                (_short(t.value, 48), _num(t.frequency)) for t in s.top_values[:_TOP_VALUES]
            ]
    elif kind == "bytes_stats":
        b = feature.bytes_stats
        row["facts"] = [
            ("unique", _num(b.unique)),
            ("avg length", _num(b.avg_num_bytes)),
            ("min length", _num(b.min_num_bytes)),
            ("max length", _num(b.max_num_bytes)),
        ]
    return row


def _slug(text: str, index: int) -> str:
    """A unique, safe HTML id for a split's section."""
    return f"statistics-{index}-" + (re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x")


def _balance(counts: dict[str, dict[str, int]], colors: dict[str, str]) -> dict:
    """The class balance table rows, totals, extremes and grouped bar chart."""
    splits = list(counts)
    labels = sorted({label for per_label in counts.values() for label in per_label})
    totals = {label: sum(counts[s].get(label, 0) for s in splits) for label in labels}
    if not labels:
        return {"splits": splits, "rows": [], "chart": None}
    smallest = min(labels, key=lambda label: (totals[label], label))
    largest = max(labels, key=lambda label: (totals[label], label))
    rows = [
        {
            "label": label,
            "counts": [counts[s].get(label, 0) for s in splits],
            "total": totals[label],
            "mark": "smallest" if label == smallest else "largest" if label == largest else "",
        }
        for label in labels
    ]
    fig = Figure(figsize=(min(16.0, 3 + 0.45 * len(labels) * max(1, len(splits))), 3.6), dpi=100)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(splits))
    for i, split in enumerate(splits):
        xs = [x + (i - (len(splits) - 1) / 2) * width for x in range(len(labels))]
        ys = [counts[split].get(label, 0) for label in labels]
        ax.bar(xs, ys, width, label=_mpl_text(split), color=colors[split])
    ax.set_xticks(range(len(labels)), [_mpl_text(label, 12) for label in labels])
    for tick, label in zip(ax.get_xticklabels(), labels, strict=True):
        if label in (smallest, largest):
            tick.set_color(_SMALLEST if label == smallest else _LARGEST)
            tick.set_fontweight("bold")
    for label, color in ((smallest, _SMALLEST), (largest, _LARGEST)):
        x = labels.index(label)
        ax.axvspan(x - 0.45, x + 0.45, color=color, alpha=0.08, zorder=0)
    if len(labels) > 12:
        ax.tick_params(axis="x", labelrotation=60)
    ax.set_ylabel("images")
    title = f"smallest: {_mpl_text(smallest)} ({totals[smallest]}), largest: {_mpl_text(largest)}"
    ax.set_title(f"{title} ({totals[largest]})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    split_totals = [sum(counts[s].values()) for s in splits]
    return {
        "splits": splits,
        "rows": rows,
        "split_totals": split_totals,
        "total": sum(split_totals),
        "smallest": smallest,
        "largest": largest,
        "chart": png_uri(fig),
    }


def _quality_charts(statistics: dict, colors: dict[str, str]) -> list[dict]:
    """One histogram figure per image-quality feature, with one series per split."""
    charts = []
    for name in features.IMAGE_FACT_KEYS:
        series = []
        for split, stats in statistics.items():
            feature = features_by_name(stats).get(name)
            buckets = standard_buckets(feature) if feature is not None else []
            if buckets:
                series.append((split, buckets))
        if not series:
            charts.append({"name": name, "uri": None})
            continue
        fig = Figure(figsize=(5.0, 2.6), dpi=100)
        ax = fig.add_subplot()
        for split, buckets in series:
            draw_histogram(ax, buckets, colors[split], _mpl_text(split), share=True)
        ax.set_title(name, fontsize=10)
        ax.set_ylabel("share of split", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=8)
        fig.tight_layout()
        charts.append({"name": name, "uri": png_uri(fig)})
    return charts


def _sample_rows(samples: dict[str, list[bytes]]) -> list[dict]:
    """Per label, thumbnails or placeholders for images that do not decode."""
    rows = []
    for label, images in samples.items():
        cells = []
        for data in images:
            try:
                cells.append({"uri": thumbnail(data), "error": None})
            except Exception as error:  # any decoder failure becomes a placeholder
                cells.append({"uri": None, "error": type(error).__name__})
        rows.append({"label": label, "cells": cells})
    return rows


def render_report(inputs: ReportInputs) -> str:
    """Return the whole report as one self-contained HTML document."""
    splits = list(dict.fromkeys([*inputs.class_counts, *inputs.statistics]))
    colors = {split: _COLORS[i % len(_COLORS)] for i, split in enumerate(splits)}
    findings = sorted(inputs.findings, key=lambda f: f.severity != "error")
    stats_sections = [
        {
            "split": split,
            "id": _slug(split, i),
            "rows": [_feature_row(name, f) for name, f in sorted(features_by_name(stats).items())],
            "examples": _num(stats.datasets[0].num_examples) if stats.datasets else "0",
        }
        for i, (split, stats) in enumerate(inputs.statistics.items())
    ]
    return _TEMPLATE.render(
        title=inputs.title,
        facts=inputs.facts,
        findings=findings,
        errors=sum(f.severity == "error" for f in findings),
        balance=_balance(inputs.class_counts, colors),
        stats_sections=stats_sections,
        quality=_quality_charts(inputs.statistics, colors),
        quarantined=inputs.quarantined,
        duplicates=inputs.duplicates,
        samples=_sample_rows(inputs.samples),
        drift_html=inputs.drift_html,
        hands_html=inputs.hands_html,
        style=STYLE,
    )


_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ style|safe }}</style></head><body>
<header id="summary"><h1>{{ title }}</h1>
<table class="facts">{% for key, value in facts.items() %}
<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
{% if not findings %}<p class="verdict ok">No anomalies</p>{% else %}
<p class="verdict {{ 'bad' if errors else 'warn' }}">{{ findings|length }} anomal{{
 'y' if findings|length == 1 else 'ies' }} ({{ errors }} error{{ '' if errors == 1 else 's' }},
 {{ findings|length - errors }} warning{{ '' if findings|length - errors == 1 else 's' }})</p>
{% endif %}</header>
<nav><ol class="toc"><li><a href="#anomalies">Anomalies</a></li>
<li><a href="#class-balance">Class balance</a></li>{% if drift_html %}
<li><a href="#drift">Drift</a></li>{% endif %}{% if hands_html %}
<li><a href="#hands">Hands</a></li>{% endif %}<li><a href="#statistics">Statistics</a><ul>
{% for s in stats_sections %}<li><a href="#{{ s.id }}">{{ s.split }}</a></li>{% endfor %}</ul></li>
<li><a href="#image-quality">Image quality</a></li>
<li><a href="#quarantine">Quarantined files</a></li>
<li><a href="#samples">Samples</a></li></ol></nav>
<section id="anomalies"><h2>Anomalies</h2>
{% if findings %}<table><tr><th>Split</th><th>Field</th><th>Severity</th><th>Problem</th>
<th>Detail</th></tr>{% for f in findings %}<tr class="{{ f.severity }}"><td>{{ f.split }}</td>
<td>{{ f.field }}</td><td class="sev">{{ f.severity }}</td><td>{{ f.short }}</td>
<td class="v">{{ f.detail }}</td></tr>{% endfor %}</table>
{% else %}<p>None.</p>{% endif %}</section>
<section id="class-balance"><h2>Class balance</h2>{% if balance.rows %}
<p>Smallest class: <strong style="color:#c62828">{{ balance.smallest }}</strong>; largest class:
<strong style="color:#1565c0">{{ balance.largest }}</strong> (by total images).</p>
<table><tr><th>Label</th>{% for s in balance.splits %}<th>{{ s }}</th>{% endfor %}
<th>Total</th></tr>{% for r in balance.rows %}<tr class="{{ r.mark }}"><td>{{ r.label }}</td>
{% for c in r.counts %}<td class="n">{{ c }}</td>{% endfor %}<td class="n">{{ r.total }}</td></tr>
{% endfor %}<tr class="total"><td>Total</td>{% for c in balance.split_totals %}
<td class="n">{{ c }}</td>{% endfor %}<td class="n">{{ balance.total }}</td></tr></table>
<img src="{{ balance.chart }}" alt="images per class and split">
{% else %}<p>No class counts.</p>{% endif %}</section>
{{ drift_html|safe }}
{{ hands_html|safe }}
<section id="statistics"><h2>Statistics per split</h2>
{% for s in stats_sections %}<h3 id="{{ s.id }}">{{ s.split }}
<span class="muted">({{ s.examples }} examples)</span></h3>
<table><tr><th>Feature</th><th>Type</th><th>Count</th><th>Missing</th><th>Mean</th><th>Std</th>
<th>Min</th><th>Median</th><th>Max</th><th>Distribution / values</th></tr>
{% for r in s.rows %}<tr><td>{{ r.name }}</td><td>{{ r.type }}</td><td class="n">{{ r.count }}</td>
<td class="n">{{ r.missing }}</td>{% if r.numbers %}{% for v in r.numbers %}
<td class="n">{{ v }}</td>{% endfor %}{% else %}<td colspan="5">{% for k, v in r.facts %}
{{ k }}: <strong>{{ v }}</strong>{{ '; ' if not loop.last }}{% endfor %}</td>{% endif %}
<td class="v">
{% if r.histogram %}<img src="{{ r.histogram }}" alt="histogram of {{ r.name }}">{% endif %}
{% if r.top %}top: {% for v, n in r.top %}<code>{{ v }}</code> ({{ n }}){{ ', ' if not loop.last }}
{% endfor %}{% endif %}{% if r.custom %}<dl class="cs">{% for k, v in r.custom %}<div><dt>{{ k
 }}</dt><dd>{{ v }}</dd></div>{% endfor %}</dl>{% endif %}</td></tr>{% endfor %}</table>
{% else %}<p>No statistics.</p>{% endfor %}</section>
<section id="image-quality"><h2>Image quality</h2><div class="charts">
{% for c in quality %}{% if c.uri %}<img src="{{ c.uri }}" alt="histogram of {{ c.name }}">
{% else %}<p class="muted">{{ c.name }}: not in the statistics.</p>{% endif %}{% endfor %}
</div></section>
<section id="quarantine"><h2>Quarantined files ({{ quarantined|length }})</h2>
{% if quarantined %}<table><tr><th>Path</th><th>Reason</th></tr>{% for q in quarantined %}
<tr><td class="v">{{ q.path }}</td><td>{{ q.reason }}</td></tr>{% endfor %}</table>
{% else %}<p>None</p>{% endif %}
<p>Exact duplicates dropped: <strong>{{ duplicates }}</strong></p></section>
<section id="samples"><h2>Samples</h2>{% if samples %}<table class="samples">
{% for r in samples %}<tr><th>{{ r.label }}</th><td class="thumbs">{% for c in r.cells %}
{% if c.uri %}<img src="{{ c.uri }}" alt="{{ r.label }} sample {{ loop.index }}">{% else %}
<span class="ph" title="{{ r.label }} sample {{ loop.index }}">could not decode<br>
({{ c.error }})</span>{% endif %}{% else %}
<span class="muted">no samples</span>{% endfor %}</td></tr>{% endfor %}</table>
{% else %}<p>No samples.</p>{% endif %}</section>
</body></html>
"""
)
