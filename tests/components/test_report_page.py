"""Tests for the HTML data validation report renderer, on real TFDV statistics and anomalies."""

import base64
import io
import re
from html.parser import HTMLParser

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from PIL import Image, features
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from signpipe.components.data_validation_report import report_page as rp

SECTIONS = (
    "summary",
    "anomalies",
    "class-balance",
    "statistics",
    "image-quality",
    "quarantine",
    "samples",
)
ODD_LABEL = "<b>Ñ&"


def _encoded(fmt: str, color=(200, 40, 40), size=(40, 30), mode="RGB") -> bytes:
    """A small solid image encoded in the given Pillow format."""
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def _split_frame(n: int, min_width: int) -> pd.DataFrame:
    """A split shaped like ImageFolderExampleGen's output, with n rows."""
    labels = ["A", ODD_LABEL]
    rows = []
    for i in range(n):
        image = _encoded("PNG" if i % 2 else "JPEG", color=(i % 255, 90, 30))
        rows.append(
            {
                "image_raw": image,
                "label": labels[i % 3 == 0],
                "source_path": f"/data/{labels[i % 3 == 0]}/{i}.jpg",
                "content_hash": f"{i:064x}",
                "image_format": "bmp" if i == 100 else "png" if i % 2 else "jpeg",
                "height": 30 + i % 7,
                "width": min_width + i % 11,
                "channels": 3,
                "file_size": len(image),
                "brightness": 0.2 + (i % 10) / 20,
                "sharpness": 5.0 + (i % 13),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tfdv_data():
    """Real statistics for two splits; train breaks eval's schema (width, image_format)."""
    options = tfdv.StatsOptions(enable_semantic_domain_stats=True)
    statistics = {
        "train": tfdv.generate_statistics_from_dataframe(
            _split_frame(120, min_width=8), stats_options=options
        ),
        "eval": tfdv.generate_statistics_from_dataframe(
            _split_frame(12, min_width=40), stats_options=options
        ),
    }
    schema = tfdv.infer_schema(statistics["eval"], max_string_domain_size=2)
    tfdv.set_domain(schema, "width", schema_pb2.IntDomain(name="width", min=32))
    anomalies = tfdv.validate_statistics(statistics["train"], schema)
    return statistics, anomalies


def _inputs(statistics, findings, **overrides) -> rp.ReportInputs:
    """Report inputs with an odd label, quarantined files and mixed-format samples."""
    values = {
        "title": "signpipe data validation — run 2026-11-24T10:00",
        "statistics": statistics,
        "findings": findings,
        "class_counts": {"train": {"A": 80, ODD_LABEL: 40}, "eval": {"A": 8, ODD_LABEL: 4}},
        "quarantined": [rp.QuarantinedFile("/data/A/broken.jpg", "cannot decode: truncated")],
        "duplicates": 3,
        "samples": {
            "A": [_encoded("JPEG"), _encoded("BMP"), _encoded("PNG", (0, 0, 0, 0), mode="RGBA")],
            ODD_LABEL: [_encoded("WEBP" if features.check("webp") else "GIF"), b"not an image"],
        },
        "facts": {"Data root": "/data/hands", "Span": "0"},
    }
    values.update(overrides)
    return rp.ReportInputs(**values)


class _Page(HTMLParser):
    """Collects ids, img sources, text, and table rows by enclosing section id."""

    def __init__(self):
        super().__init__()
        self.ids, self.imgs, self.text, self.tags = set(), [], [], []
        self.rows: dict[str, list[list[str]]] = {}
        self._section, self._row, self._cell = None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "section":
            self._section = attrs.get("id")
        elif tag == "img":
            self.imgs.append(attrs.get("src", ""))
        elif tag == "tr":
            self._row = []
            self.rows.setdefault(self._section, []).append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            self._row.append(self._cell)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row and self._cell is not None:
            self._row[-1] = " ".join("".join(self._cell).split())
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def rendered(tfdv_data):
    """The report for the real statistics, TFDV findings and one project finding."""
    statistics, anomalies = tfdv_data
    findings = [
        rp.Finding("all", "label", "warning", "class imbalance", "ratio 2.0 is high"),
        *rp.findings_from_anomalies("train", anomalies),
    ]
    html = rp.render_report(_inputs(statistics, findings))
    return html, _parse(html), findings


def test_findings_from_anomalies_one_per_entry(tfdv_data):
    _, anomalies = tfdv_data
    assert set(anomalies.anomaly_info) == {"width", "image_format", "image_raw"}
    found = rp.findings_from_anomalies("train", anomalies)
    assert len(found) == len(anomalies.anomaly_info)
    by_field = {f.field: f for f in found}
    info = anomalies.anomaly_info["width"]
    assert by_field["width"].detail == info.description
    assert "small" in by_field["width"].detail.lower()
    assert by_field["width"].short == info.short_description
    assert by_field["width"].severity == "error"
    assert all(f.split == "train" for f in found)
    assert "bmp" in by_field["image_format"].detail


def test_findings_from_dataset_level_anomaly():
    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.dataset_anomaly_info
    info.severity = anomalies_pb2.AnomalyInfo.WARNING
    info.short_description = "Low num examples"
    info.description = "The dataset has 3 examples, below 10."
    found = rp.findings_from_anomalies("eval", anomalies)
    assert found == [
        rp.Finding("eval", "(dataset)", "warning", "Low num examples", info.description)
    ]
    assert rp.findings_from_anomalies("eval", anomalies_pb2.Anomalies()) == []


def test_sections_and_contents_table(rendered):
    html, page, _ = rendered
    assert html.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in html
    for section in SECTIONS:
        assert section in page.ids
    for section in SECTIONS[1:]:
        assert f'href="#{section}"' in html
    assert "script" not in page.tags and "link" not in page.tags


def test_every_image_is_an_embedded_png_or_jpeg(rendered):
    _, page, _ = rendered
    # 1 balance chart + 6 quality charts + 6 numeric thumbnails x 2 splits + 4 samples
    assert len(page.imgs) == 1 + 6 + 12 + 4
    for src in page.imgs:
        match = re.fullmatch(r"data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)", src)
        assert match, src[:60]
        with Image.open(io.BytesIO(base64.b64decode(match.group(2)))) as image:
            image.load()
            assert image.format == match.group(1).upper()
            assert max(image.size) <= 2000


def test_no_external_urls(rendered):
    html, _, _ = rendered
    assert "http://" not in html and "https://" not in html
    assert "//" not in re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "", html)


def test_odd_label_is_escaped(rendered):
    html, page, _ = rendered
    assert "<b>" not in html
    assert "&lt;b&gt;Ñ&amp;" in html
    assert ODD_LABEL in "".join(page.text)


def test_class_balance_table_has_counts_and_totals(rendered):
    _, page, _ = rendered
    rows = page.rows["class-balance"]
    assert rows[0] == ["Label", "train", "eval", "Total"]
    assert ["A", "80", "8", "88"] in rows
    assert [ODD_LABEL, "40", "4", "44"] in rows
    assert ["Total", "120", "12", "132"] in rows


def test_each_finding_is_listed_errors_first(rendered):
    html, page, findings = rendered
    rows = page.rows["anomalies"][1:]
    assert len(rows) == len(findings)
    for f in findings:
        assert [f.split, f.field, f.severity, f.short, " ".join(f.detail.split())] in rows
    assert rows[0][2] == "error" and rows[-1][2] == "warning"
    assert f"{len(findings)} anomalies" in html


def test_statistics_rows_from_tfdv(rendered, tfdv_data):
    html, page, _ = rendered
    statistics, _ = tfdv_data
    train_end = [i for i, row in enumerate(page.rows["statistics"]) if row[0] == "Feature"][1]
    rows = {row[0]: row for row in page.rows["statistics"][1:train_end]}
    for name in ("image_raw", "label", "source_path", "width", "brightness", "sharpness"):
        assert name in rows
    width = next(f for f in statistics["train"].datasets[0].features if f.path.step == ["width"])
    assert rows["width"][1:5] == ["INT", "120", "0.0 %", rp._num(width.num_stats.mean)]
    assert rows["width"][7] == rp._num(width.num_stats.median)
    assert "top: A (" in rows["label"][-1]
    assert "image_format_histogram" in rows["image_raw"][-1]  # TFDV's image custom stats
    assert "__BYTES_VALUE__" not in html


def test_quarantine_and_duplicates(rendered, tfdv_data):
    html, page, _ = rendered
    assert ["/data/A/broken.jpg", "cannot decode: truncated"] in page.rows["quarantine"]
    assert "Quarantined files (1)" in html and "duplicates dropped: <strong>3<" in html
    empty = rp.render_report(_inputs(tfdv_data[0], [], quarantined=[], duplicates=0))
    assert re.search(r"Quarantined files \(0\)</h2>\s*<p>None</p>", empty)


def test_corrupt_sample_becomes_placeholder(tfdv_data):
    html = rp.render_report(
        _inputs(tfdv_data[0], [], samples={"A": [b"\xff\xd8\xff broken", _encoded("BMP")]})
    )
    assert "could not decode" in html
    assert len(_parse(html).imgs) == 1 + 6 + 12 + 1


def test_verdict_without_anomalies(tfdv_data):
    html = rp.render_report(_inputs(tfdv_data[0], []))
    assert 'class="verdict ok">No anomalies<' in html
    assert "anomalies (" not in html


def test_renders_with_empty_inputs():
    html = rp.render_report(
        rp.ReportInputs("empty", {}, [], {}, [], 0, {}, {}),
    )
    for section in SECTIONS:
        assert f'id="{section}"' in html


def test_labels_that_look_like_mathtext_do_not_break_charts():
    counts = {"train": {"$\\frac{$": 3, "$x^$": 5}, "eval": {"$\\frac{$": 1}}
    html = rp.render_report(rp.ReportInputs("t", {}, [], counts, [], 0, {}, {}))
    assert "$\\frac{$" in html and len(_parse(html).imgs) == 1
