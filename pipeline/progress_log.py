"""Progress of long steps (images read, epochs, conversions), for the terminal and the log.

Executors report through the `signpipe.progress` logger; the CLI's `TerminalLines` shows
them. A milestone (an epoch's metrics, a variant's verdict) is a line of its own; other
updates (a running count) only rewrite the current line, and only on a terminal.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import TextIO

LOGGER = logging.getLogger("signpipe.progress")
LOGGER.setLevel(logging.INFO)
_CLEAR_LINE = "\r\x1b[K"


def report(step: str, message: str, milestone: bool = False) -> None:
    """Report progress of a step; `milestone` marks an update worth a line in any log."""
    LOGGER.info("%s: %s", step, message, extra={"milestone": milestone})


def _duration(seconds: float) -> str:
    """`42 s`, `7 min 5 s` or `2 h 03 min`."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Done of total, rate and time left of one long loop: a status update on every call,
    and a milestone line (for any log) at every tenth of the total and at least every
    `every` seconds, so a scheduled run's log shows a long step moving."""

    def __init__(
        self,
        step: str,
        noun: str,
        total: int | None,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._step, self._noun, self._total = step, noun, total
        self._every, self._clock = every, clock
        self.done = 0
        self._started = self._last_milestone = clock()
        self._tenths = 0

    def advance(self, count: int = 1, prefix: str = "") -> None:
        """Count `count` more done and report; `prefix` leads the line (an epoch, a phase)."""
        self.done += count
        now = self._clock()
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.done:,}"
        tenths = 0
        if self._total:
            tenths = min(10 * self.done // self._total, 10)
            left = max(self._total - self.done, 0) / rate if rate else 0.0
            text += f"/{self._total:,} {self._noun} ({self.done / self._total:.0%})"
            text += f", {rate:,.1f}/s, {_duration(left)} left"
        else:
            text += f" {self._noun}, {rate:,.1f}/s"
        milestone = tenths > self._tenths or now - self._last_milestone >= self._every
        if milestone:
            self._tenths, self._last_milestone = tenths, now
        report(self._step, f"{prefix}{text}", milestone=milestone)


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
