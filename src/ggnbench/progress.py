"""Progress of long work: a tqdm bar on a terminal, plain lines with rate and time left in a log.

A workflow job writes into its log file, where a bar redrawn with carriage returns would be
unreadable; there :class:`Progress` prints one line at most every
``defaults.PROGRESS_EVERY_S`` seconds (and at the end), in tqdm's own format: done/total,
elapsed, time left, rate. A heartbeat line repeats the last state when nothing was printed
for ``defaults.HEARTBEAT_S`` seconds (a single long benchmark case, a long evaluation).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from tqdm import tqdm

from ggnbench import defaults

#: tqdm's line without the bar: "desc: 40%| 4/10 [00:12<00:18, 3.00s/step, loss=0.41]".
LINE_FORMAT = (
    "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
)


class Progress:
    """Progress of ``total`` units of work, shown as the stream allows."""

    def __init__(
        self,
        desc: str,
        total: int,
        unit: str = "step",
        stream: TextIO | None = None,
        every_s: float = defaults.PROGRESS_EVERY_S,
        heartbeat_s: float | None = defaults.HEARTBEAT_S,
    ) -> None:
        """Start showing progress.

        Args:
            desc: What is progressing (the line's prefix).
            total: Units of work in all.
            unit: Name of one unit.
            stream: Where to write (stderr if None); a terminal gets a tqdm bar.
            every_s: Least seconds between two log lines.
            heartbeat_s: Seconds of silence after which the last state is repeated in a
                log; None for no heartbeat.
        """
        self.stream = stream or sys.stderr
        self.desc, self.total, self.unit, self.every_s = desc, total, unit, every_s
        self.done, self.postfix = 0, ""
        self.start = self.last_line = time.monotonic()
        self._lock = threading.Lock()
        self._bar: tqdm | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        if self.stream.isatty():
            self._bar = tqdm(desc=desc, total=total, unit=unit, file=self.stream,
                             dynamic_ncols=True)  # fmt: skip
        elif heartbeat_s:
            self._heartbeat = threading.Thread(target=self._beat, args=(heartbeat_s,), daemon=True)
            self._heartbeat.start()

    def line(self, note: str = "") -> str:
        """The current state in tqdm's format, without a bar.

        Args:
            note: Appended after the state (e.g. "still running").

        Returns:
            One line.
        """
        text = tqdm.format_meter(
            self.done, self.total, time.monotonic() - self.start, prefix=self.desc,
            unit=self.unit, postfix=self.postfix or None, bar_format=LINE_FORMAT,
        )  # fmt: skip
        return f"{text} {note}".rstrip()

    def update(self, done: int, total: int | None = None, **postfix: Any) -> None:
        """Record that ``done`` units are finished.

        Args:
            done: Units finished so far.
            total: A new total, where it became known only now.
            **postfix: Values shown after the rate (e.g. ``loss=0.41``).
        """
        with self._lock:
            self.done = done
            if total is not None:
                self.total = total
                if self._bar is not None:
                    self._bar.total = total
            self.postfix = ", ".join(f"{k}={v}" for k, v in postfix.items())
            if self._bar is not None:
                self._bar.update(done - self._bar.n)
                if postfix:
                    self._bar.set_postfix_str(self.postfix, refresh=False)
                return
            now = time.monotonic()
            if now - self.last_line >= self.every_s or done >= self.total:
                self._write(self.line())

    def step(self, done: int, total: int, loss: float) -> None:
        """The training loop's progress callback (:data:`ggnbench.run.train.StepCallback`).

        Args:
            done: Steps done.
            total: Steps in the run.
            loss: The last minibatch loss.
        """
        self.update(done, total=total, loss=f"{loss:.4f}")

    def _write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
        self.last_line = time.monotonic()

    def _beat(self, heartbeat_s: float) -> None:
        while not self._stop.wait(heartbeat_s / 4):
            with self._lock:
                if time.monotonic() - self.last_line >= heartbeat_s:
                    self._write(self.line("(still running)"))

    def close(self) -> None:
        """Stop the bar or the heartbeat."""
        self._stop.set()
        if self._bar is not None:
            self._bar.close()
