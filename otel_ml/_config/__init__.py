"""The one configuration reader of otel_ml: typed value readers, ``Secret`` and ``TlsOptions``.

The evaluator (``evaluator.yaml``), its ``alerts:`` / ``notifiers:`` sections and
the scikit-learn instrumentor's options all read their values through these
functions, so every section reports a mistake the same way, on one line::

    <dotted.path>: <problem>; <fix>

for example ``windows.sise: unknown key; did you mean 'size'? valid keys: size,
grace, min_rows, retention``. A file loaded from disk prefixes its name
(``evaluator.yaml: windows.sise: ...``). Secrets are read in one way everywhere
(:func:`read_secret`: ``{env: NAME}`` or ``{file: path}``) into one
:class:`Secret` type whose ``repr`` never shows the value.

This package imports only the standard library (the SDK uses it too).
"""

from otel_ml._config._secret import (
    Secret,
    load_secret,
    read_secret,
    secret_from_env,
    secret_from_file,
)
from otel_ml._config._tls import TlsOptions
from otel_ml._config._values import (
    check_keys,
    config_error,
    dotted,
    parse_duration,
    read_bool,
    read_duration,
    read_float,
    read_int,
    read_mapping,
    read_path,
    read_str,
    read_str_list,
)

__all__ = [
    "Secret",
    "TlsOptions",
    "check_keys",
    "config_error",
    "dotted",
    "load_secret",
    "parse_duration",
    "read_bool",
    "read_duration",
    "read_float",
    "read_int",
    "read_mapping",
    "read_path",
    "read_secret",
    "read_str",
    "read_str_list",
    "secret_from_env",
    "secret_from_file",
]
