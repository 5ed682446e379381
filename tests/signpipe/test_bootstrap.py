"""scripts/bootstrap.sh: says what to install without Python 3.10, skips an up-to-date venv."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "bootstrap.sh"
FIXED_CANDIDATES = (
    "/usr/local/bin/python3.10",
    "/usr/bin/python3.10",
    "/opt/homebrew/bin/python3.10",
)


def _tool_dir(tmp_path: Path) -> Path:
    """A PATH with only the shell tools the script needs, and no Python at all."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("bash", "cat", "cut", "dirname", "sha256sum", "rm"):
        os.symlink(shutil.which(name), tools / name)
    return tools


def test_without_python310_it_says_what_to_install(tmp_path):
    if any(os.path.exists(path) for path in FIXED_CANDIDATES):
        pytest.skip("this machine has a Python 3.10 at a fixed path the script always finds")
    env = {
        "PATH": str(_tool_dir(tmp_path)),
        "HOME": str(tmp_path),
        "SIGNPIPE_VENV": str(tmp_path / "venv"),
        "SIGNPIPE_PYTHON": sys.executable if sys.version_info[:2] != (3, 10) else "",
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert "needs Python 3.10" in result.stderr
    assert "uv python install 3.10" in result.stderr and "SIGNPIPE_PYTHON" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_an_up_to_date_venv_is_left_alone(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    os.symlink(sys.executable, venv / "bin" / "python")
    digest = hashlib.sha256(
        (REPO / "requirements" / "lock.txt").read_bytes()
        + (REPO / "setup.py").read_bytes()
        + SCRIPT.read_bytes()
    ).hexdigest()
    (venv / ".signpipe-lock-sha256").write_text(digest + "\n")
    env = {"PATH": str(_tool_dir(tmp_path)), "HOME": str(tmp_path), "SIGNPIPE_VENV": str(venv)}
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert sorted(p.name for p in venv.iterdir()) == [".signpipe-lock-sha256", "bin"]
