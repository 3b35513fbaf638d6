"""The otel_ml exception hierarchy.

::

    OtelMlError                 every error otel_ml raises on purpose
    ├── ConfigurationError      bad options, config files, CLI arguments (names field and fix)
    ├── ProfileError            a profile file that cannot be read, or does not fit the data
    └── SketchError             sketches that cannot be merged or rebuilt (bad OTLP fields)

    OtelMlWarning               warnings otel_ml emits (the test suite turns them into errors)

Errors are raised at configuration time only. Inside a monitored predict call
and inside exporters, otel_ml never raises: its own failures are logged once
and counted on ``otel_ml.internal.errors``.
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "OtelMlError", "OtelMlWarning", "ProfileError", "SketchError"]


class OtelMlError(Exception):
    """Base class of every error otel_ml raises on purpose."""


class ConfigurationError(OtelMlError, ValueError):
    """An option, a configuration file or a CLI argument is wrong.

    The message names the field and says how to fix it.
    """


class ProfileError(OtelMlError):
    """A reference profile cannot be read, is incompatible, or does not fit the data."""


class SketchError(OtelMlError, ValueError):
    """Sketches that cannot be merged, or sketch fields that are inconsistent."""


class OtelMlWarning(UserWarning):
    """A warning emitted by otel_ml."""
