"""One run at a time per pipeline home: an exclusive lock that names its holder."""

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator

from signpipe.errors import RunInProgressError

LOCK_FILE = "run.lock"


def _holder() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }


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
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read())
                who = (
                    f"pid {holder['pid']} on {holder['host']}, started {holder['started']}: "
                    f"{holder['command']}"
                )
            except (ValueError, KeyError):
                who = "a process that has not written its name yet"
            raise RunInProgressError(
                f"another run holds {path} ({who}); wait for it to finish or stop it. "
                "Runs of one home never overlap."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(_holder()))
        handle.flush()
        yield path
    finally:
        handle.close()  # closing releases the lock
