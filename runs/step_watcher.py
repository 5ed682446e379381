"""Follows a running pipeline in ML Metadata and prints a line as each step starts and ends."""

import os
import threading

from ml_metadata import errors as mlmd_errors

from signpipe.pipeline.configs import PipelineConfig
from signpipe.pipeline.progress_log import TerminalLines
from signpipe.runs.store import StepRecord, open_store, steps_after

_ENDED = {
    "COMPLETE": None,
    "CACHED": "reused from cache",
    "FAILED": "FAILED",
    "CANCELED": "canceled",
}


class StepWatcher:
    """Polls the metadata store in a thread; knows which step is running or failed.

    The store, not TFX's log lines, is the record of what ran: it holds every step's state
    (RUNNING, COMPLETE, CACHED, FAILED) whatever the libraries do to logging.
    """

    def __init__(self, config: PipelineConfig, out: TerminalLines, interval: float = 0.5):
        self._config = config
        self._interval = interval
        self.out = out
        self.current: str | None = None  # the step running now, or the one that failed
        self._after_id = 0
        self._printed: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="step-watcher", daemon=True)

    def __enter__(self) -> "StepWatcher":
        executions = steps_after(self._config)
        self._after_id = max((e.execution_id for e in executions), default=0)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # the last state changes, including a failure

    def _follow(self) -> None:
        while not self._stop.wait(self._interval):
            self.poll()

    def poll(self) -> None:
        """Print what changed since the last poll."""
        if not os.path.exists(self._config.metadata_path):
            return
        try:
            store = open_store(self._config, read_only=True)
            executions = steps_after(self._config, self._after_id, store)
        except mlmd_errors.StatusError:  # the run may hold the SQLite lock: try next time
            return
        for execution in executions:
            self._report(execution)

    def _report(self, execution: StepRecord) -> None:
        if self._printed.get(execution.execution_id) == execution.state:
            return
        name = execution.component
        if execution.state in _ENDED:
            if execution.state != "CACHED" and execution.execution_id not in self._printed:
                self._print(f"  {name} ...")
            outcome = _ENDED[execution.state] or f"done in {execution.seconds:.1f}s"
            self._print(f"  {name} {outcome}")
            if execution.state == "FAILED":
                self.current = name
            elif self.current == name:
                self.current = None
        else:
            self._print(f"  {name} ...")
            self.current = name
        self._printed[execution.execution_id] = execution.state

    def _print(self, line: str) -> None:
        self.out.line(line)
