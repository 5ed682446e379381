"""The ingestion report ExampleGen writes beside its examples, and how to read it back."""

import json
import os
from typing import Any

from tfx.dsl.io import fileio

REPORT_FILE = "ingestion_report.json"


def write_report(examples_uri: str, report: dict[str, Any]) -> str:
    """Write the report into the Examples artifact folder and return its path."""
    path = os.path.join(examples_uri, REPORT_FILE)
    with fileio.open(path, "w") as handle:
        handle.write(json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True))
    return path


def read_report(examples_uri: str) -> dict[str, Any]:
    """Load the report written by the image folder ExampleGen."""
    with fileio.open(os.path.join(examples_uri, REPORT_FILE)) as handle:
        return json.loads(handle.read())
