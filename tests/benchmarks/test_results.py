"""A benchmark's JSON names the machine it was measured on, beside its figures."""

import importlib.util
import json
import os
import platform
from pathlib import Path

_SETUP = Path(__file__).resolve().parents[2] / "benchmarks" / "benchmark_setup.py"


def _write_result():
    """benchmarks/benchmark_setup.py's write_result (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("benchmark_setup", _SETUP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_result


def test_results_carry_the_machine_and_keep_every_figure(tmp_path, capsys):
    out = tmp_path / "results" / "figures.json"
    _write_result()(str(out), {"wall_s": 12.5, "steps": {"Trainer": 3.0}})
    written = json.loads(out.read_text())
    assert written["wall_s"] == 12.5 and written["steps"] == {"Trainer": 3.0}
    assert written["machine"]["cores"] == os.cpu_count()
    assert written["machine"]["python"] == platform.python_version()
    if Path("/proc/cpuinfo").exists():
        assert written["machine"]["model name"]
    assert json.loads(capsys.readouterr().out) == written
