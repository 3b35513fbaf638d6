"""Feature histograms for an app whose SDK someone else set up (``opentelemetry-instrument``).

``opentelemetry-instrument`` (with ``opentelemetry-distro``) builds the
``MeterProvider`` and its ``PeriodicExportingMetricReader`` before it loads the
instrumentors, from ``OTEL_*`` variables the application never sees. The
feature and prediction sketches only reach a backend through
:class:`~otel_ml.instrumentation._otlp_bridge.SketchMetricExporter`, which must
sit in front of the reader's exporter. :func:`bridge_periodic_readers` puts it
there: for every periodic reader of an SDK ``MeterProvider`` it wraps the
reader's exporter in place (once), so the sketches go out with the SDK's own
metrics, to the same endpoint, with the same headers, temporality and interval.

This touches the reader's private ``_exporter`` attribute (the SDK offers no
public way to add points to an export); when it is not there, nothing is
changed and a warning says how to wire the bridge by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader

from otel_ml.instrumentation._otlp_bridge import SketchMetricExporter

__all__ = ["bridge_periodic_readers"]

_LOG = logging.getLogger(__name__)


def _readers(provider: MeterProvider) -> list[Any]:
    # The readers given to the constructor: ``_metric_readers`` in SDK 1.4x, kept in the
    # SDK configuration by older releases.
    readers = getattr(provider, "_metric_readers", None)
    if readers is None:
        readers = getattr(getattr(provider, "_sdk_config", None), "metric_readers", ())
    return list(readers or ())


def bridge_periodic_readers(provider: object) -> int:
    """Wrap the exporter of each periodic reader of ``provider``; return how many are bridged.

    Readers already exporting through a ``SketchMetricExporter`` count as bridged
    and are left alone, so calling this twice changes nothing.

    Examples
    --------
    >>> from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
    >>> reader = PeriodicExportingMetricReader(ConsoleMetricExporter(), 60_000)
    >>> provider = MeterProvider(metric_readers=[reader])
    >>> bridge_periodic_readers(provider), bridge_periodic_readers(provider)
    (1, 1)
    >>> type(reader._exporter).__name__
    'SketchMetricExporter'
    >>> provider.shutdown()
    """
    if not isinstance(provider, MeterProvider):
        return 0
    bridged = 0
    for reader in _readers(provider):
        if not isinstance(reader, PeriodicExportingMetricReader):
            continue
        exporter = getattr(reader, "_exporter", None)
        if isinstance(exporter, SketchMetricExporter):
            bridged += 1
        elif isinstance(exporter, MetricExporter):
            reader._exporter = SketchMetricExporter(exporter)
            bridged += 1
        else:
            _LOG.warning(
                "otel_ml: cannot find the exporter of %r; feature histograms will not be "
                "exported through it. Wrap your exporter in SketchMetricExporter.",
                reader,
            )
    return bridged
