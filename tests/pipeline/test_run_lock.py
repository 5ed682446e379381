"""Two runs of one pipeline home never overlap; the second names the first and exits."""

import os
import subprocess
import sys
import textwrap

import pytest

from signpipe.errors import RunInProgressError
from signpipe.pipeline.run_lock import holder, run_lock


def _hold_in_another_process(home, seconds: float) -> subprocess.Popen:
    script = textwrap.dedent(
        f"""
        import sys, time
        from signpipe.pipeline.run_lock import run_lock
        with run_lock({str(home)!r}):
            print("holding", flush=True)
            time.sleep({seconds})
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, "--scheduled-run"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def test_a_second_run_of_the_same_home_fails_at_once_naming_the_holder(tmp_path):
    holder = _hold_in_another_process(tmp_path, 30)
    try:
        with pytest.raises(RunInProgressError) as error, run_lock(str(tmp_path)):
            pytest.fail("the lock was taken twice")
        message = str(error.value)
        assert f"pid {holder.pid}" in message and "--scheduled-run" in message
        assert str(tmp_path / "run.lock") in message
    finally:
        holder.kill()
        holder.wait()
    with run_lock(str(tmp_path)) as path:  # released when the holder died, even killed
        assert path == str(tmp_path / "run.lock")


def test_other_homes_run_side_by_side(tmp_path):
    holder = _hold_in_another_process(tmp_path / "a", 30)
    try:
        with run_lock(str(tmp_path / "b")):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_holder_names_the_live_holder_and_none_once_it_died(tmp_path):
    assert holder(str(tmp_path)) is None  # no lock file yet
    process = _hold_in_another_process(tmp_path, 30)
    try:
        assert holder(str(tmp_path))["pid"] == process.pid
    finally:
        process.kill()
        process.wait()
    assert holder(str(tmp_path)) is None  # the file remains, the lock went with the process
    with run_lock(str(tmp_path)):  # the probe took nothing away from the next run
        assert holder(str(tmp_path))["pid"] == os.getpid()
