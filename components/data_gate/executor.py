"""Executor: fail the run, naming each anomaly, when the data report holds errors."""

import json
import logging
import os
from typing import Any

from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from signpipe.components.artifacts import DataReport
from signpipe.errors import DataValidationError

FAIL_ON_ANOMALIES_KEY = "fail_on_anomalies"


class Executor(base_executor.BaseExecutor):
    """Raises DataValidationError when the report has error findings and gating is on."""

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Read the report's findings and stop the run on errors."""
        report = artifact_utils.get_single_instance(input_dict["report"])
        with fileio.open(os.path.join(report.uri, DataReport.FINDINGS_FILE)) as handle:
            findings = json.loads(handle.read())
        errors = [f for f in findings if f["severity"] == "error"]
        report_path = os.path.join(report.uri, DataReport.PAGE_FILE)
        if not errors:
            logging.info("Data gate passed: %d warning(s)", len(findings))
            return
        listed = "\n".join(
            f"  - [{f['split']}] {f['field']}: {f['short']}: {f['detail']}" for f in errors
        )
        if not exec_properties[FAIL_ON_ANOMALIES_KEY]:
            logging.warning("Data anomalies reported as warnings:\n%s", listed)
            return
        raise DataValidationError(
            f"the data failed validation with {len(errors)} anomaly(ies); the run stops "
            f"before training.\n{listed}\nReport: {report_path}\n"
            "Fix the data, curate the schema (`signpipe schema`), or pass "
            "--allow-anomalies to report them as warnings."
        )
