"""The gate's decision on a data report's findings, apart from TFX."""

import logging

from signpipe.errors import DataValidationError


def check_findings(findings: list[dict], report_path: str, fail_on_anomalies: bool) -> None:
    """Raise DataValidationError naming each error finding, or log them when gating is off."""
    errors = [f for f in findings if f["severity"] == "error"]
    if not errors:
        logging.info("Data gate passed: %d warning(s)", len(findings))
        return
    listed = "\n".join(
        f"  - [{f['split']}] {f['field']}: {f['short']}: {f['detail']}" for f in errors
    )
    if not fail_on_anomalies:
        logging.warning("Data anomalies reported as warnings:\n%s", listed)
        return
    raise DataValidationError(
        f"the data failed validation with {len(errors)} anomaly(ies); the run stops "
        f"before training.\n{listed}\nReport: {report_path}\n"
        "Fix the data, curate the schema (`signpipe schema`), or pass "
        "--allow-anomalies to report them as warnings."
    )
