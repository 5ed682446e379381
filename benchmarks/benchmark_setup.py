"""Where and how benchmark scripts record their figures."""

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "asl_massey"


def write_result(path: str, result: dict[str, Any]) -> None:
    """Write the figures as JSON (creating the folder) and print them."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    out.write_text(text + "\n")
    print(text)
