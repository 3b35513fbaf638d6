"""Typed readers for the ``alerts:`` and ``notifiers:`` configuration values.

Every reader takes the dotted path of the value (``alerts.rules[2].threshold``)
and raises :class:`~otel_ml.ConfigurationError` naming that path and the fix.
Secrets are read from the environment or from a file, never from the YAML text.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from otel_ml._errors import ConfigurationError

__all__ = [
    "Secret",
    "check_keys",
    "read_bool",
    "read_duration",
    "read_float",
    "read_int",
    "read_mapping",
    "read_secret",
    "read_str",
    "read_str_list",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class Secret:
    """A secret value (webhook URL, routing key, password) that never prints.

    Examples
    --------
    >>> s = Secret("hunter2", "env:SMTP_PASSWORD")
    >>> s
    Secret(env:SMTP_PASSWORD)
    >>> f"{s}", s.reveal()
    ('Secret(env:SMTP_PASSWORD)', 'hunter2')
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def check_keys(mapping: Mapping[str, object], allowed: Sequence[str], path: str) -> None:
    """Reject keys that are not in ``allowed``.

    Examples
    --------
    >>> check_keys({"treshold": 1}, ["threshold"], "alerts.rules[0]")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    otel_ml._errors.ConfigurationError: alerts.rules[0].treshold: unknown key; expected one...
    """
    for key in mapping:
        if key not in allowed:
            raise ConfigurationError(
                f"{path}.{key}: unknown key; expected one of: {', '.join(allowed)}"
            )


def read_mapping(value: object, path: str) -> Mapping[str, object]:
    """A mapping with string keys (``None`` gives an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigurationError(f"{path}: expected a mapping of names to values")
    return value


def read_str(value: object, path: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{path}: expected a non-empty string, got {value!r}")
    return value


def read_str_list(value: object, path: str) -> tuple[str, ...]:
    """A list of strings (a single string counts as a list of one)."""
    if isinstance(value, str):
        return (read_str(value, path),)
    if not isinstance(value, Sequence):
        raise ConfigurationError(f"{path}: expected a list of strings, got {value!r}")
    return tuple(read_str(v, f"{path}[{i}]") for i, v in enumerate(value))


def read_bool(value: object, path: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{path}: expected true or false, got {value!r}")
    return value


def read_float(value: object, path: str, *, minimum: float | None = None) -> float:
    """A finite number, optionally at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{path}: expected a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{path}: must be >= {minimum}, got {value!r}")
    return float(value)


def read_int(value: object, path: str, *, minimum: int = 0) -> int:
    """An integer of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{path}: expected an integer >= {minimum}, got {value!r}")
    return value


def read_duration(value: object, path: str) -> float:
    """Seconds from a number or a string such as ``"90s"``, ``"5m"``, ``"4h"``, ``"1d"``.

    Examples
    --------
    >>> read_duration("5m", "x"), read_duration(30, "x"), read_duration("250ms", "x")
    (300.0, 30.0, 0.25)
    """
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ConfigurationError(
                f"{path}: {value!r} is not a duration; write e.g. 30s, 5m, 4h or 1d"
            )
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return read_float(value, path, minimum=0.0)


def read_secret(value: object, path: str) -> Secret:
    """A secret given as ``{env: NAME}`` or ``{file: path}``, read now.

    Examples
    --------
    >>> import os
    >>> os.environ["OTEL_ML_DOCTEST_KEY"] = "abc"
    >>> read_secret({"env": "OTEL_ML_DOCTEST_KEY"}, "notifiers.pd.routing_key")
    Secret(env:OTEL_ML_DOCTEST_KEY)
    >>> read_secret("abc", "notifiers.pd.routing_key")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    otel_ml._errors.ConfigurationError: notifiers.pd.routing_key: a secret cannot be written...
    """
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ConfigurationError(
            f"{path}: a secret cannot be written in the configuration; "
            "use {env: VARIABLE} or {file: /path/to/file}"
        )
    ((kind, name),) = value.items()
    if kind == "env":
        var = read_str(name, f"{path}.env")
        found = os.environ.get(var)
        if not found:
            raise ConfigurationError(
                f"{path}: environment variable {var} is not set or empty; export it"
            )
        return Secret(found.strip(), f"env:{var}")
    if kind == "file":
        file = Path(read_str(name, f"{path}.file"))
        try:
            text = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"{path}: cannot read secret file {file} ({exc.strerror}); check the path"
            ) from None
        if not text:
            raise ConfigurationError(f"{path}: secret file {file} is empty")
        return Secret(text, f"file:{file.name}")
    raise ConfigurationError(
        f"{path}.{kind}: unknown secret source; use {{env: VARIABLE}} or {{file: /path}}"
    )
