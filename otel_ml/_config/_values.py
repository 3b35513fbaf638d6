"""Typed readers for configuration values, each naming the value's dotted path in its error.

Every reader takes the value and its path (``windows.size``,
``alerts.rules.accuracy_low.threshold``, ``notifiers.pd.retry.jitter``) and
returns a typed value or raises :class:`~otel_ml.ConfigurationError` with one
line ``<path>: <problem>; <fix>``.

Examples
--------
>>> read_int(5, "windows.min_rows", minimum=1), read_float(1, "drift.alpha", maximum=1)
(5, 1.0)
>>> read_float(10**400, "drift.alpha")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: drift.alpha: expected a finite number, got 1000...
>>> read_int("many", "windows.min_rows", minimum=1)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: windows.min_rows: expected an integer >= 1, got 'many'; ...
>>> check_keys({"sise": 1}, ("size", "grace"), "windows")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: windows.sise: unknown key; did you mean 'size'? valid keys: ...
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from otel_ml._errors import ConfigurationError

__all__ = [
    "check_keys",
    "config_error",
    "dotted",
    "parse_duration",
    "read_bool",
    "read_duration",
    "read_float",
    "read_int",
    "read_mapping",
    "read_path",
    "read_str",
    "read_str_list",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def config_error(path: str, problem: str, fix: str = "") -> ConfigurationError:
    """The error for the value at ``path``: ``<path>: <problem>; <fix>`` on one line."""
    text = f"{path}: {problem}" if path else problem
    if fix:
        text += f"; {fix}"
    return ConfigurationError(" ".join(text.split("\n")))


def dotted(path: str, key: object) -> str:
    """``path.key`` (just ``key`` at the top level)."""
    return f"{path}.{key}" if path else str(key)


def check_keys(mapping: Mapping[str, object], allowed: Iterable[str], path: str) -> None:
    """Reject a key that is not in ``allowed``, suggesting the closest valid one."""
    valid = tuple(allowed)
    for key in mapping:
        if key not in valid:
            near = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"did you mean '{near[0]}'? " if near else ""
            raise config_error(
                dotted(path, key), "unknown key", f"{hint}valid keys: {', '.join(valid)}"
            )


def read_mapping(value: object, path: str) -> Mapping[str, object]:
    """A mapping with string keys (``None`` gives an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise config_error(path, f"expected a mapping of names to values, got {value!r}",
                           "write key: value pairs")
    return value


def read_str(value: object, path: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise config_error(path, f"expected a non-empty string, got {value!r}",
                           "write a quoted text value")
    return value


def read_str_list(value: object, path: str) -> tuple[str, ...]:
    """A list of strings (a single string counts as a list of one)."""
    if isinstance(value, str):
        return (read_str(value, path),)
    if not isinstance(value, Sequence):
        raise config_error(path, f"expected a list of strings, got {value!r}",
                           "write e.g. [a, b]")
    return tuple(read_str(v, f"{path}[{i}]") for i, v in enumerate(value))


def read_bool(value: object, path: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise config_error(path, f"expected true or false, got {value!r}",
                           "write true or false")
    return value


def _bounds(minimum: float | None, maximum: float | None, unit: str = "") -> str:
    if minimum is not None and maximum is not None:
        return f"in [{minimum:g}{unit}, {maximum:g}{unit}]"
    if minimum is not None:
        return f">= {minimum:g}{unit}"
    return f"<= {maximum:g}{unit}" if maximum is not None else ""


def read_float(
    value: object, path: str, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A finite number, optionally within ``[minimum, maximum]``."""
    number = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            pass
    if not (
        math.isfinite(number)
        and (minimum is None or number >= minimum)
        and (maximum is None or number <= maximum)
    ):
        what = " ".join(filter(None, ("a finite number", _bounds(minimum, maximum))))
        raise config_error(path, f"expected {what}, got {value!r}", "fix the value")
    return number


def read_int(value: object, path: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer in ``[minimum, maximum]``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bounds = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise config_error(path, f"expected an integer {bounds}, got {value!r}", "fix the value")
    return value


def parse_duration(value: object, *, key: str = "duration") -> float:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"1.5h"``, ``"7d"`` or ``"250ms"``.

    Examples
    --------
    >>> parse_duration("90s"), parse_duration("1.5h"), parse_duration(30), parse_duration("250ms")
    (90.0, 5400.0, 30.0, 0.25)
    """
    return read_duration(value, key)


def read_duration(
    value: object, path: str, *, minimum: float = 0.0, maximum: float | None = None
) -> float:
    """Seconds from a number or a string such as ``"90s"``, ``"5m"``, ``"4h"``, ``"1d"``."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise config_error(path, f"{value!r} is not a duration",
                               "write a number of seconds or one with a unit ms, s, m, h or d "
                               "(e.g. 30s, 5m, 4h)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
        value
    ):
        raise config_error(path, f"expected a duration such as '5m', got {value!r}",
                           "write a number of seconds or one with a unit (e.g. 5m)")
    else:
        seconds = float(value)
    if seconds < minimum or (maximum is not None and seconds > maximum):
        raise config_error(path, f"{value!r} is outside the allowed range "
                           f"{_bounds(minimum, maximum, ' s')}", "fix the value")
    return seconds


def read_path(value: object, path: str, base: Path | None) -> Path:
    """A file or directory path; ``~`` expanded, relative paths start at ``base``."""
    p = Path(os.path.expanduser(read_str(value, path)))
    return p if p.is_absolute() or base is None else base / p
