"""Executor: fail the run, naming each anomaly, when the data report holds errors."""

import json
import os
from typing import Any

from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from signpipe.components.artifacts import DataReport
from signpipe.components.data_gate.gate import check_findings

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
        check_findings(
            findings,
            os.path.join(report.uri, DataReport.PAGE_FILE),
            bool(exec_properties[FAIL_ON_ANOMALIES_KEY]),
        )
