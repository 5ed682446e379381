"""Progress of long steps (images read, epochs, conversions), for the terminal and the log.

Executors report through the `signpipe.progress` logger; the CLI's `TerminalLines` shows
them. A milestone (an epoch's metrics, a variant's verdict) is a line of its own; other
updates (a running count) only rewrite the current line, and only on a terminal.
"""

import logging
import threading
from typing import TextIO

LOGGER = logging.getLogger("signpipe.progress")
LOGGER.setLevel(logging.INFO)
_CLEAR_LINE = "\r\x1b[K"


def report(step: str, message: str, milestone: bool = False) -> None:
    """Report progress of a step; `milestone` marks an update worth a line in any log."""
    LOGGER.info("%s: %s", step, message, extra={"milestone": milestone})


class TerminalLines(logging.Handler):
    """Writes step lines and progress to one stream; a live status line on a terminal only."""

    def __init__(self, out: TextIO, tty: bool):
        super().__init__(logging.INFO)
        self.out = out
        self.tty = tty
        self._status = False
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        """A line of its own (clearing any status line first)."""
        with self._lock:
            prefix = _CLEAR_LINE if self._status else ""
            self._status = False
            self.out.write(f"{prefix}{text}\n")
            self.out.flush()

    def status(self, text: str) -> None:
        """Rewrite the status line in place; nothing when the output is not a terminal."""
        if not self.tty:
            return
        with self._lock:
            self.out.write(f"{_CLEAR_LINE}{text}")
            self.out.flush()
            self._status = True

    def emit(self, record: logging.LogRecord) -> None:
        """Show a progress record: milestones as lines, the rest as the status line."""
        text = f"    {record.getMessage()}"
        if getattr(record, "milestone", False):
            self.line(text)
        else:
            self.status(text)
