"""The DataGate: its decision on findings, and its executor on a hand-made DataReport."""

import json
import logging

import pytest

from signpipe.components.artifacts import DataReport
from signpipe.components.data_gate.executor import FAIL_ON_ANOMALIES_KEY, Executor
from signpipe.components.data_gate.gate import check_findings
from signpipe.errors import DataValidationError

WARNING = {
    "split": "train",
    "field": "label",
    "severity": "warning",
    "short": "class imbalance",
    "detail": "A has 6x the images of B",
}
ERRORS = [
    {
        "split": "eval",
        "field": "height",
        "severity": "error",
        "short": "small images",
        "detail": "2 images under 32 px: /data/A/1.png",
    },
    {
        "split": "(all)",
        "field": "label",
        "severity": "error",
        "short": "too few images",
        "detail": "B has 1 image in eval",
    },
]


def test_passes_on_warnings_only(caplog):
    with caplog.at_level(logging.INFO):
        check_findings([WARNING], "/r/index.html", fail_on_anomalies=True)
    assert "Data gate passed: 1 warning(s)" in caplog.text


def test_raises_naming_every_error_and_the_report():
    with pytest.raises(DataValidationError) as raised:
        check_findings([WARNING, *ERRORS], "/r/index.html", fail_on_anomalies=True)
    message = str(raised.value)
    assert "failed validation with 2 anomaly(ies)" in message
    assert "  - [eval] height: small images: 2 images under 32 px: /data/A/1.png" in message
    assert "  - [(all)] label: too few images: B has 1 image in eval" in message
    assert "Report: /r/index.html" in message
    assert "class imbalance" not in message  # warnings are not listed
    assert "--allow-anomalies" in message


def test_only_warns_when_anomalies_are_allowed(caplog):
    with caplog.at_level(logging.WARNING):
        check_findings(ERRORS, "/r/index.html", fail_on_anomalies=False)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "[eval] height: small images" in record.getMessage()
    assert "[(all)] label: too few images" in record.getMessage()


def _run_gate(tmp_path, findings: list[dict], fail: int) -> None:
    """The executor on a DataReport folder holding only findings.json."""
    report = DataReport()
    report.uri = str(tmp_path)
    (tmp_path / DataReport.FINDINGS_FILE).write_text(json.dumps(findings))
    Executor().Do({"report": [report]}, {}, {FAIL_ON_ANOMALIES_KEY: fail})


def test_executor_reads_the_findings_and_names_the_report_page(tmp_path):
    with pytest.raises(DataValidationError, match=r"\[eval\] height: small images") as raised:
        _run_gate(tmp_path, [WARNING, *ERRORS], fail=1)
    assert f"Report: {tmp_path / DataReport.PAGE_FILE}\n" in str(raised.value)


def test_executor_passes_clean_or_allowed_reports(tmp_path, caplog):
    _run_gate(tmp_path, [], fail=1)
    _run_gate(tmp_path, [WARNING], fail=1)
    with caplog.at_level(logging.WARNING):
        _run_gate(tmp_path, ERRORS, fail=0)
    assert "Data anomalies reported as warnings" in caplog.text
