"""Secrets (tokens, webhook URLs, routing keys, passwords): one type, one way to load them.

A secret comes from an environment variable or a file (a Kubernetes secret
mount), read once at start-up, or is given inline in code. It is held in a
:class:`Secret`, whose ``repr``/``str`` show where it came from and never the
value; errors name the field and the variable or file, never the value.

Examples
--------
>>> import os
>>> os.environ["OTEL_ML_DOCTEST_KEY"] = "abc"
>>> read_secret({"env": "OTEL_ML_DOCTEST_KEY"}, "notifiers.pd.routing_key")
Secret(env:OTEL_ML_DOCTEST_KEY)
>>> read_secret("abc", "notifiers.pd.routing_key")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: notifiers.pd.routing_key: a secret cannot be written in ...
>>> load_secret(env="OTEL_ML_DOC_UNSET", field="auth.token_env")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: auth.token_env: environment variable OTEL_ML_DOC_UNSET ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from otel_ml._config._values import config_error, dotted, read_path, read_str

__all__ = ["Secret", "load_secret", "read_secret", "secret_from_env", "secret_from_file"]


class Secret:
    """A secret value that never prints: ``repr`` and ``str`` show only its source.

    Examples
    --------
    >>> s = Secret("hunter2", "env:SMTP_PASSWORD")
    >>> s
    Secret(env:SMTP_PASSWORD)
    >>> f"{s}", s.reveal(), Secret("hunter2")
    ('Secret(env:SMTP_PASSWORD)', 'hunter2', Secret(inline))
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "inline") -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        """The secret itself, for the one place that uses it (never for display)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def secret_from_env(var: str, path: str) -> Secret:
    """The (stripped) value of environment variable ``var``; ``path`` names the field."""
    found = os.environ.get(var, "").strip()
    if not found:
        raise config_error(path, f"environment variable {var} is not set or empty",
                           "export it before starting")
    return Secret(found, f"env:{var}")


def secret_from_file(file: Path, path: str) -> Secret:
    """The content of ``file``, stripped of surrounding whitespace (a trailing newline)."""
    try:
        text = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise config_error(path, f"cannot read secret file {file} ({reason})",
                           "check the path and its permissions") from None
    if not text:
        raise config_error(path, f"secret file {file} is empty", "write the secret into it")
    return Secret(text, f"file:{file.name}")


def read_secret(
    value: object, path: str, *, base: Path | None = None, plain: bool = False
) -> Secret:
    """A secret given as ``{env: NAME}`` or ``{file: path}`` (read now).

    With ``plain=True`` a string is accepted too, for values that need not be
    secret (a webhook URL without a token in it). Relative file paths start at
    ``base`` (the directory of the configuration file).
    """
    if plain and isinstance(value, str):
        return Secret(read_str(value, path), "config")
    if not isinstance(value, Mapping) or len(value) != 1:
        raise config_error(path, "a secret cannot be written in the configuration",
                           "use {env: VARIABLE} or {file: /path/to/file}")
    ((kind, name),) = value.items()
    if kind == "env":
        return secret_from_env(read_str(name, dotted(path, "env")), path)
    if kind == "file":
        return secret_from_file(read_path(name, dotted(path, "file"), base), path)
    raise config_error(dotted(path, kind), "unknown secret source",
                       "use {env: VARIABLE} or {file: /path/to/file}")


def load_secret(
    *, value: str | None = None, env: str | None = None, file: str | Path | None = None,
    field: str = "token",
) -> Secret:
    """Exactly one of an inline ``value``, an environment variable ``env`` or a ``file``.

    Errors name ``field`` and the fix, never the secret.
    """
    given = [x for x in (value, env, file) if x is not None]
    if len(given) != 1:
        raise config_error(field, "give exactly one of an inline value, an environment "
                           "variable or a file")
    if env is not None:
        return secret_from_env(env, field)
    if file is not None:
        return secret_from_file(Path(file), field)
    assert value is not None
    if not value.strip():
        raise config_error(field, "the secret is empty", "give its value")
    return Secret(value.strip())
