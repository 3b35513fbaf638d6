"""Progress on stderr for long command-line runs (only on a terminal, or when asked).

>>> import io
>>> out = io.StringIO()
>>> bar = ProgressBar("reading x.csv", stream=out, enabled=True, unit="rows", tty=False)
>>> bar(50, 100); bar(100, 100); bar.close()
>>> out.getvalue().splitlines()[-1]
'reading x.csv: 100% (100/100 rows)'
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar", "progress_wanted", "reading_progress"]

_WIDTH = 24


def progress_wanted(flag: bool | None, stream: TextIO | None = None) -> bool:
    """``--progress`` / ``--no-progress`` when given, else whether ``stream`` is a terminal."""
    if flag is not None:
        return flag
    s = stream if stream is not None else sys.stderr
    return bool(getattr(s, "isatty", lambda: False)())


def reading_progress(path: str, flag: bool | None) -> ProgressBar:
    """The bar for reading ``path``: bytes for text files, rows for Parquet."""
    parquet = str(path).lower().endswith((".parquet", ".pq"))
    return ProgressBar(
        f"reading {path}", enabled=progress_wanted(flag), unit="rows" if parquet else "bytes"
    )


def _amount(n: int, unit: str) -> str:
    if unit == "bytes":
        return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"
    return f"{n:,}"


class ProgressBar:
    """A callable ``progress(done, total)``: a redrawn bar on a terminal, else a line
    every few seconds; silent when not ``enabled``."""

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        unit: str = "bytes",
        tty: bool | None = None,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.unit = unit
        self.tty = progress_wanted(None, self.stream) if tty is None else tty
        self._last = -1e9
        self._drawn = False
        self._final = ""

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        frac = min(done / total, 1.0) if total > 0 else 1.0
        amounts = f"{_amount(done, self.unit)}/{_amount(total, self.unit)}"
        if self.unit != "bytes":
            amounts += f" {self.unit}"
        if self.tty:
            filled = round(frac * _WIDTH)
            bar = "#" * filled + "." * (_WIDTH - filled)
            line = f"\r{self.label} [{bar}] {frac:4.0%} {amounts}"
            if now - self._last >= 0.1 or frac >= 1.0:
                self.stream.write(line)
                self.stream.flush()
                self._last, self._drawn = now, True
        else:
            self._final = f"{self.label}: {frac:.0%} ({amounts})"
            if now - self._last >= 5.0 or frac >= 1.0:
                self.stream.write(self._final + "\n")
                self.stream.flush()
                self._last = now
                self._final = ""

    def close(self) -> None:
        """End the bar's line (call once, when the work is done)."""
        if not self.enabled:
            return
        if self.tty and self._drawn:
            self.stream.write("\n")
        elif self._final:
            self.stream.write(self._final + "\n")
        self.stream.flush()
