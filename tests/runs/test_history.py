"""A run killed with SIGKILL reads as INTERRUPTED, naming the step it died in."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from ml_metadata import errors as mlmd_errors

from signpipe.pipeline.run_lock import run_lock
from signpipe.runs.history import list_runs
from signpipe.runs.store import open_store, steps_after
from tests.small_runs import SIGNPIPE, run_signpipe, small_config

pytestmark = pytest.mark.slow(minutes=1)


def _first_running_step(config, process: subprocess.Popen, seconds: float = 180) -> str:
    """Wait until ML Metadata shows a step of the run RUNNING; return its component."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before any step was seen running"
        if os.path.exists(config.metadata_path):
            try:
                steps = steps_after(config, store=open_store(config, read_only=True))
            except mlmd_errors.StatusError:  # the run holds the SQLite lock: look again
                steps = []
            running = [step.component for step in steps if step.state == "RUNNING"]
            if running:
                return running[0]
        time.sleep(0.05)
    raise AssertionError(f"no step was seen running within {seconds} s")


@pytest.fixture(scope="module")
def killed_run(images, tmp_path_factory):
    """A `signpipe run` killed with SIGKILL (its whole process group) while a step ran."""
    home = tmp_path_factory.mktemp("killed")
    config = small_config(home, images)
    process = subprocess.Popen(
        [SIGNPIPE, "run", "--home", str(home), "--data-root", str(images)],
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: Beam's and pip's children die with it
    )
    try:
        step = _first_running_step(config, process)
        [live] = list_runs(config)
        assert live.status == "RUNNING" and live.died_in == []  # its process holds the lock
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return config, step


def test_runs_list_marks_a_killed_run_interrupted_and_names_its_step(killed_run):
    config, step = killed_run
    [run] = list_runs(config)
    assert run.status == "INTERRUPTED"
    assert run.died_in == [step]
    assert run.marks().endswith("!")
    listing = run_signpipe("runs", "list", "--home", config.home, cwd=config.home)
    assert listing.returncode == 0, listing.stderr
    [line] = [line for line in listing.stdout.splitlines() if line.startswith(run.run_id)]
    assert " INTERRUPTED " in line and line.endswith(f"died in {step}")
    assert "RUNNING" not in listing.stdout


def test_runs_show_and_the_report_say_where_it_died(killed_run):
    config, step = killed_run
    [run] = list_runs(config)
    shown = run_signpipe("runs", "show", run.run_id, "--home", config.home, cwd=config.home)
    assert shown.returncode == 0, shown.stderr
    assert ": INTERRUPTED," in shown.stdout
    assert f"its process died during {step}" in shown.stdout
    assert any(line.split()[:2] == [step, "DIED"] for line in shown.stdout.splitlines())
    reported = run_signpipe("report", "--home", config.home, cwd=config.home)
    assert reported.returncode == 0, reported.stderr
    page = Path(reported.stdout.split("Run report: ")[1].strip()).read_text(encoding="utf-8")
    assert "<td>INTERRUPTED</td>" in page
    assert f"its process died during\n {step}" in page


def test_a_newer_run_holding_the_lock_leaves_the_killed_one_interrupted(killed_run):
    config, step = killed_run
    with run_lock(config.home):  # another open file: the lock reads as held here too
        [run] = list_runs(config)
    assert run.status == "INTERRUPTED" and run.died_in == [step]
