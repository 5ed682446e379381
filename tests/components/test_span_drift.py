"""Drift between spans: a controlled change is reported and stops the run; noise passes."""

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from PIL import Image

from signpipe.components.artifacts import DataReport
from signpipe.components.data_validation_report.drift_section import (
    SpanDrift,
    drift_findings,
    verdict,
)
from signpipe.data.synthetic_hands import SyntheticDataSpec, generate_dataset
from signpipe.errors import DataValidationError
from signpipe.pipeline import local_runner
from signpipe.pipeline.configs import load_config
from signpipe.runs.summaries import data_summary
from tests.headless_chromium import browser, page_facts


def _stats(labels: list[str], groups: list[str]):
    return tfdv.generate_statistics_from_dataframe(pd.DataFrame({"label": labels, "group": groups}))


def test_a_vanished_class_is_an_error_and_a_new_signer_a_warning():
    before = _stats(["A", "B", "C"] * 4, ["s1", "s2"] * 6)
    after = _stats(["A", "B"] * 6, ["s1", "s3"] * 6)
    drift = SpanDrift(
        span=2,
        previous_span=1,
        current={"train": after},
        previous={"train": before},
        comparisons={},
    )
    findings = {(f.field, f.short): f for f in drift_findings(drift)}
    vanished = findings[("label", "vanished class(es)")]
    assert vanished.severity == "error" and "['C']" in vanished.detail
    assert findings[("group", "new groups")].severity == "warning"
    assert "['s3']" in findings[("group", "new groups")].detail
    assert "['s2']" in findings[("group", "vanished groups")].detail
    assert ("label", "new class(es)") not in findings
    assert verdict(drift, list(findings.values())).startswith("span 2 against span 1: ")


def test_the_first_span_has_nothing_to_compare_with():
    drift = SpanDrift(1, None, {}, {}, {}, why_none="span 1 is the first span ingested")
    assert drift_findings(drift) == []
    assert verdict(drift, []) == "nothing to compare with: span 1 is the first span ingested"


def _two_spans_of_one_design(root: Path) -> None:
    """Spans 1 and 2: alternate pairs of one generated set (formats alternate image by image)."""
    spec = SyntheticDataSpec(
        letters=("A", "B", "C"), images_per_class=96, signers=2, image_size=48, seed=1
    )
    generate_dataset(root / "pool", spec)
    for index, path in enumerate(sorted((root / "pool").glob("*/*.*"))):
        target = root / f"span-{1 + index // 2 % 2}" / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)


def _derived_span(root: Path, span: int, change) -> None:
    """Span 1's images, each changed by `change` (an array -> array function), re-saved."""
    for path in (root / "span-1").glob("*/*.*"):
        target = root / f"span-{span}" / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            pixels = change(np.asarray(image.convert("RGB"), np.float32))
            changed = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            buffer = io.BytesIO()
            changed.save(buffer, format=image.format)
        target.write_bytes(buffer.getvalue())


def _validate(home: Path, root: Path, **overrides):
    config = load_config(
        None,
        **{
            "home": str(home),
            "data.data_root": str(root / "span-{SPAN}"),
            "validation.min_images_per_class": 1,  # a few images a class: drift is tested
            "data.hand_analysis": False,  # 4 runs of 288 images; hands are tested elsewhere
            "training.inputs": "image",  # (what a model without landmarks reads)
            **overrides,
        },
    )
    local_runner.run(config, data_only=True)
    return config


@pytest.mark.slow
def test_darker_span_is_drift_that_stops_the_run_while_noise_passes(tmp_path):
    root, home = tmp_path / "data", tmp_path / "home"
    _two_spans_of_one_design(root)
    first = data_summary(_validate(home, root, **{"data.span": 1}))
    assert first.drift.startswith("nothing to compare with: span 1 is the first span")

    second = data_summary(_validate(home, root))
    assert second.drift == "span 2 against span 1: within every threshold", second.drift  # noise
    assert second.anomalies == 0

    _derived_span(root, 3, lambda pixels: pixels * 0.45)  # span 1, darker: one controlled change
    with pytest.raises(DataValidationError) as stopped:
        _validate(home, root)
    message = str(stopped.value)
    assert "drift against span 2" in message and "brightness" in message

    allowed = _validate(home, root, **{"validation.fail_on_anomalies": False})
    summary = data_summary(allowed)
    assert summary.drift.startswith("span 3 against span 2: brightness")
    findings = json.loads(Path(summary.report_path).with_name(DataReport.FINDINGS_FILE).read_text())
    drifted = {f["field"] for f in findings if f["short"].startswith("drift against span 2")}
    assert "brightness" in drifted and "label" not in drifted
    if browser() is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    facts = page_facts(summary.report_path, screenshot="drift")
    assert "drift" in facts["sections"] and facts["broken"] == []
    assert "span 3 against span 2" in facts["text"] and "Jensen-Shannon" in facts["text"]
    with Image.open(io.BytesIO(facts["screenshot"])) as shot:
        pixels = np.asarray(shot.convert("L"), np.float32)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 500  # table and overlay charts
    assert pixels.std() > 20  # drawn charts, not a blank box
