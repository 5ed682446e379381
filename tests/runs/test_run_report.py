"""The run report of a real run opens in headless Chromium with every section and image."""

import os
from pathlib import Path

import numpy as np
import pytest

from signpipe.inference.explain import ExplainedModel
from signpipe.runs import eval_predictions
from signpipe.runs.eval_predictions import EMBEDDED, predict_split
from signpipe.runs.history import list_runs, report_path
from signpipe.runs.report.page import SECTIONS, write_report
from tests.headless_chromium import browser, page_facts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium():
    if browser() is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")


def test_the_report_shows_every_section_with_no_broken_image(blessed_run, chromium):
    first = list_runs(blessed_run)[-1]  # the shared run: blessed, pushed, TFLite made
    path = write_report(blessed_run, first.run_id)
    assert path == report_path(blessed_run, first.run_id)
    facts = page_facts(path)
    assert facts["title"] == f"signpipe run {first.run_id}"
    assert facts["broken"] == []
    assert facts["images"] >= 10  # curves, confusion matrix, data charts, sample grid
    assert set(SECTIONS) - {"cross_validation"} <= set(facts["sections"])
    text = facts["text"]
    assert f"Blessed, pushed as version {first.pushed[0]}" in text
    for expected in (
        "eval accuracy",
        "Precision and recall per class",
        "Confusion matrix",
        "Most confused pairs",
        "float32",
        "int8",
        "Class balance",
        "Samples",
    ):
        assert expected in text, expected


def test_the_reports_eval_predictions_are_the_evaluators(blessed_run):
    from tfx.types import standard_artifacts
    from tfx.utils import path_utils

    from signpipe.runs.store import tfx_artifact

    run = list_runs(blessed_run)[-1]
    examples = tfx_artifact(
        run.output("ImageFolderExampleGen", "examples"), standard_artifacts.Examples
    )
    model = ExplainedModel(path_utils.serving_model_path(run.output("Trainer", "model").uri))
    predictions = predict_split(model, examples, "eval", run.class_labels())
    assert len(predictions.paths) == len(predictions.labels) == len(predictions.probabilities)
    assert (
        len(predictions.embeddings)
        == len(predictions.embedded)
        == min(len(predictions.paths), EMBEDDED)
    )
    assert (predictions.labels >= 0).all()
    accuracy = float((predictions.predicted == predictions.labels).mean())
    assert accuracy == pytest.approx(run.accuracy("Evaluator"), abs=1e-6)
    # Embeddings of a bounded few, spread over the split; the images, read again on request.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(eval_predictions, "EMBEDDED", 3)
        few = predict_split(model, examples, "eval", run.class_labels())
    np.testing.assert_allclose(few.probabilities, predictions.probabilities, atol=1e-6)
    last = len(few.paths) - 1
    assert few.embedded[0] == 0 and few.embedded[-1] == last and len(few.embeddings) == 3
    np.testing.assert_allclose(few.embeddings, predictions.embeddings[few.embedded], atol=1e-5)
    images = few.images([0, last])
    assert sorted(images) == [0, last]
    assert images[last][0] == Path(few.paths[last]).read_bytes()


def test_a_broken_image_is_caught(tmp_path, chromium):
    page = tmp_path / "broken.html"
    page.write_text(
        '<html><body><section id="s">x<img alt="bad" src="data:image/png;base64,AAAA">'
        "</section></body></html>"
    )
    facts = page_facts(str(page))
    assert facts["broken"] == ["bad"] and facts["sections"] == ["s"]
