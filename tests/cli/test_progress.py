"""Progress on stderr: a redrawn bar on a terminal, sparse lines otherwise, nothing when off."""

from __future__ import annotations

import io

from otel_ml._progress import ProgressBar, progress_wanted


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_bar_is_redrawn_in_place_and_ends_with_a_newline() -> None:
    out = _Tty()
    bar = ProgressBar("reading d.csv", stream=out, unit="bytes")
    bar(0, 2_000_000)
    bar(2_000_000, 2_000_000)
    bar.close()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "[" + "#" * 24 + "] 100% 2.0 MB/2.0 MB" in text


def test_disabled_bar_writes_nothing() -> None:
    out = _Tty()
    bar = ProgressBar("x", stream=out, enabled=False)
    bar(1, 2)
    bar.close()
    assert out.getvalue() == ""


def test_progress_wanted_follows_the_flag_then_the_terminal() -> None:
    assert progress_wanted(None, _Tty()) is True
    assert progress_wanted(None, io.StringIO()) is False
    assert progress_wanted(False, _Tty()) is False
    assert progress_wanted(True, io.StringIO()) is True
