"""Shared pieces of ``benchmarks/alternatives.py``: which tools loaded, result tables, rendering.

Kept apart from the measurements so the quick test can build and render tables
without any optional tool installed.
"""

from __future__ import annotations

import importlib
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType

# Both tools phone home on import unless told not to; the benchmark must not try.
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")

BEGIN_MARKER = "<!-- alternatives:begin (written by benchmarks/alternatives.py) -->"
END_MARKER = "<!-- alternatives:end -->"


@dataclass(frozen=True)
class Tool:
    """One optional tool: its module when it imported, else why it is missing."""

    name: str
    module: ModuleType | None
    version: str
    error: str

    @property
    def available(self) -> bool:
        return self.module is not None

    def missing_cell(self) -> str:
        """Why the tool did not run, safe inside a Markdown table cell."""
        return "not run: " + self.error.replace("|", "/").replace("\n", " ")


@dataclass(frozen=True)
class Tools:
    whylogs: Tool
    evidently: Tool

    @classmethod
    def load(cls, install_errors: dict[str, str] | None = None) -> Tools:
        """Import whylogs and Evidently; a failed install or import is kept as the reason."""
        errors = install_errors or {}
        return cls(whylogs=_load("whylogs", errors), evidently=_load("evidently", errors))

    @classmethod
    def none(cls, reason: str) -> Tools:
        """No optional tool (the quick test, or ``--otel-ml-only``)."""
        return cls(whylogs=Tool("whylogs", None, "", reason),
                   evidently=Tool("evidently", None, "", reason))


def _load(name: str, install_errors: dict[str, str]) -> Tool:
    if name in install_errors:
        return Tool(name, None, "", f"`pip install` failed: {install_errors[name]}")
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - any import failure is reported on the page
        return Tool(name, None, "", f"`import {name}` failed: {type(exc).__name__}: {exc}")
    return Tool(name, module, str(getattr(module, "__version__", "?")), "")


@dataclass(frozen=True)
class Table:
    """One Markdown table with a heading, an introduction and notes under it."""

    title: str
    intro: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = field(default=())

    def row(self, label: str) -> tuple[str, ...]:
        """The row whose first cell is ``label`` (KeyError if absent)."""
        for r in self.rows:
            if r[0] == label:
                return r
        raise KeyError(label)

    def render(self) -> str:
        align = "|" + "|".join("---:" if _numeric([r[i] for r in self.rows]) else "---"
                               for i in range(len(self.columns))) + "|"
        lines = [f"### {self.title}", "", self.intro, "",
                 "| " + " | ".join(self.columns) + " |", align]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.notes:
            lines.append("")
            lines += list(self.notes)
        return "\n".join(lines)


def _numeric(cells: Sequence[str]) -> bool:
    """A column of numbers (right-aligned): every cell a number, a dash or empty."""
    stripped = [c.strip("*() ") for c in cells]
    return any(c[:1].isdigit() for c in stripped) and all(
        c in {"", "—", "n/a"} or c[:1].isdigit() for c in stripped)


def render_section(tables: Sequence[Table], header: str) -> str:
    """The text between the markers: a header paragraph and every table."""
    return "\n\n".join([header, *(t.render() for t in tables)]) + "\n"


def replace_between_markers(document: str, body: str, heading: str) -> str:
    """Put ``body`` between the markers of ``document`` (appending the section if absent)."""
    block = f"{BEGIN_MARKER}\n{body}{END_MARKER}"
    if BEGIN_MARKER in document and END_MARKER in document:
        start = document.index(BEGIN_MARKER)
        end = document.index(END_MARKER) + len(END_MARKER)
        return document[:start] + block + document[end:]
    return document.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"


def cpu_seconds(fn: Callable[[], object], repeat: int, min_seconds: float = 0.02) -> float:
    """Median CPU seconds of one call of ``fn`` over ``repeat`` timings, after a warm-up.

    CPU time of the whole process (``time.process_time``: every thread, so a tool's
    worker threads count, and the other jobs of a shared machine do not). Several calls
    are timed together when one is shorter than ``min_seconds``.
    """
    fn()
    inner = 1
    while True:
        t = time.process_time()
        for _ in range(inner):
            fn()
        if time.process_time() - t > min_seconds or inner >= 1024:
            break
        inner *= 4
    times = []
    for _ in range(max(1, repeat)):
        t = time.process_time()
        for _ in range(inner):
            fn()
        times.append((time.process_time() - t) / inner)
    return statistics.median(times)


def ns(seconds: float) -> str:
    return f"{seconds * 1e9:,.0f} ns" if seconds >= 1e-7 else f"{seconds * 1e9:.1f} ns"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:,.1f}x" if baseline > 0 else "n/a"


def pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f} %" if n else "n/a"
