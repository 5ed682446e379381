"""Every signpipe name a benchmark imports exists: benchmarks import inside functions, so a
renamed module or function would otherwise surface only minutes into a measurement."""

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py"))


def _signpipe_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name or None) of every `signpipe` import in a file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("signpipe"):
            found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name, None) for a in node.names if a.name.startswith("signpipe")
            ]
    return found


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda path: path.name)
def test_every_signpipe_name_a_benchmark_imports_exists(path: Path):
    missing = []
    for line, module, name in _signpipe_imports(path):
        imported = importlib.import_module(module)
        if name is not None and not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ModuleNotFoundError:
                missing.append(f"{path.name}:{line}: {module}.{name}")
    assert missing == []
