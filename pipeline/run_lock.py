"""One run at a time per pipeline home: an exclusive lock that names its holder."""

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator

from signpipe.errors import RunInProgressError

LOCK_FILE = "run.lock"


def _this_process() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
        "command": " ".join(sys.argv),
    }


_HOLDER_KEYS = {"pid", "host", "started", "command"}
# holder() takes the lock for an instant to test it: a run starting just then tries again.
_ATTEMPTS, _PAUSE = 20, 0.05


def _read_holder(handle) -> dict | None:
    """The holder's name as the lock file records it; None while it has not written it."""
    handle.seek(0)
    try:
        named = json.loads(handle.read())
    except ValueError:
        return None
    return named if isinstance(named, dict) and set(named) >= _HOLDER_KEYS else None


def holder(home: str) -> dict | None:
    """Who holds the home's run lock now (pid, host, started, command); None when no run does.

    A run that holds it but has not yet written its name reads as {"started": ""}.
    """
    path = os.path.join(home, LOCK_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(handle) or {"started": ""}
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def run_lock(home: str) -> Iterator[str]:
    """Hold `<home>/run.lock` for the duration of a run, or raise RunInProgressError at once.

    An advisory flock: the kernel releases it when the holder exits, however it exits, so
    a crashed run never leaves a stale lock. Two runs sharing one ML Metadata store and
    pipeline root would otherwise interleave their executions (and SQLite locks).
    """
    os.makedirs(home, exist_ok=True)
    path = os.path.join(home, LOCK_FILE)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the whole run)
    try:
        _take(handle, path)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(_this_process()))
        handle.flush()
        yield path
    finally:
        handle.close()  # closing releases the lock


def _take(handle, path: str) -> None:
    """Take the lock, or raise RunInProgressError naming the run that holds it."""
    for attempt in range(_ATTEMPTS):
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt < _ATTEMPTS - 1:
                time.sleep(_PAUSE)
    holding = _read_holder(handle)
    who = (
        f"pid {holding['pid']} on {holding['host']}, started {holding['started']}: "
        f"{holding['command']}"
        if holding
        else "a process that has not written its name yet"
    )
    raise RunInProgressError(
        f"another run holds {path} ({who}); wait for it to finish or stop it. "
        "Runs of one home never overlap."
    )
