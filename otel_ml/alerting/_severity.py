"""Alert severities and the OTel log severity numbers they map to."""

from __future__ import annotations

import enum

from opentelemetry._logs import SeverityNumber

from otel_ml._errors import ConfigurationError

__all__ = ["Severity"]


class Severity(str, enum.Enum):
    """How urgent an alert is.

    Examples
    --------
    >>> Severity("critical").severity_number
    <SeverityNumber.ERROR: 17>
    >>> Severity.INFO < Severity.CRITICAL
    True
    """

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for critical."""
        return _RANK[self]

    @property
    def severity_number(self) -> SeverityNumber:
        """The OTel log severity number: INFO, WARN, ERROR."""
        return _NUMBER[self]

    @classmethod
    def parse(cls, value: object, path: str) -> Severity:
        """Read a severity from configuration, naming ``path`` if it is wrong.

        Examples
        --------
        >>> Severity.parse("warning", "x").name
        'WARNING'
        """
        try:
            return cls(value)
        except ValueError:
            raise ConfigurationError(
                f"{path}: {value!r} is not a severity; use info, warning or critical"
            ) from None

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
_NUMBER = {
    Severity.INFO: SeverityNumber.INFO,
    Severity.WARNING: SeverityNumber.WARN,
    Severity.CRITICAL: SeverityNumber.ERROR,
}
