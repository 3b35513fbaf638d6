"""Shared pieces of the evaluator's end-to-end tests (a model service in a subprocess, the
evaluator on loopback): a clock the test moves forward, GETs of its API, and waiting."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any


class Clock:
    """Wall-clock time plus ``offset`` (the test closes windows by moving it forward)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return bytes(r.read())


def get_text(url: str) -> str:
    return get(url).decode()


def get_json(url: str) -> Any:
    return json.loads(get(url))


def wait(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """``check()``'s first truthy answer, polled every 0.1 s; AssertionError naming
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")
