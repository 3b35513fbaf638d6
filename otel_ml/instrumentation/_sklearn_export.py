"""Feature histograms for an app whose SDK someone else set up (``opentelemetry-instrument``).

``opentelemetry-instrument`` (with ``opentelemetry-distro``) builds the
``MeterProvider`` and its metric readers before it loads the instrumentors,
from ``OTEL_*`` variables the application never sees. The feature and
prediction sketches reach a backend only through otel_ml's bridge, which must
sit next to each reader. :func:`bridge_readers` puts it there, once per reader:

- a ``PeriodicExportingMetricReader`` (``OTEL_METRICS_EXPORTER=otlp``, ...): its
  exporter is wrapped in place in
  :class:`~otel_ml.instrumentation._otlp_bridge.SketchMetricExporter`, so the
  sketches go out with the SDK's own metrics, to the same endpoint, with the
  same headers, temporality and interval;
- a ``PrometheusMetricReader`` (``OTEL_METRICS_EXPORTER=prometheus``): a
  :class:`~otel_ml.instrumentation._prometheus.SketchCollector` is registered on
  the reader's ``CollectorRegistry``, so the scrape endpoint the SDK serves
  also has the histograms.

This reads private attributes of the SDK's readers (``_exporter``,
``_registry``; the SDK offers no public way to add points to a reader); when
one is not there, nothing is changed and a warning says how to wire the bridge
by hand.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from prometheus_client.registry import CollectorRegistry

from otel_ml.instrumentation._otlp_bridge import SketchMetricExporter
from otel_ml.instrumentation._prometheus import SketchCollector

__all__ = ["bridge_readers"]

_LOG = logging.getLogger(__name__)

# Registries that already have a SketchCollector (two would expose every series twice).
_BRIDGED_REGISTRIES: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()
_LOCK = threading.Lock()


def _readers(provider: MeterProvider) -> list[Any]:
    # The readers given to the constructor: ``_metric_readers`` in SDK 1.4x, kept in the
    # SDK configuration by older releases.
    readers = getattr(provider, "_metric_readers", None)
    if readers is None:
        readers = getattr(getattr(provider, "_sdk_config", None), "metric_readers", ())
    return list(readers or ())


def _bridge_periodic(reader: PeriodicExportingMetricReader) -> bool:
    exporter = getattr(reader, "_exporter", None)
    if isinstance(exporter, SketchMetricExporter):
        return True
    if isinstance(exporter, MetricExporter):
        reader._exporter = SketchMetricExporter(exporter)
        return True
    _LOG.warning(
        "otel_ml: cannot find the exporter of %r; feature histograms will not be exported "
        "through it. Wrap your exporter in SketchMetricExporter.",
        reader,
    )
    return False


def _bridge_prometheus(reader: PrometheusMetricReader) -> bool:
    registry = getattr(reader, "_registry", None)
    if not isinstance(registry, CollectorRegistry):
        _LOG.warning(
            "otel_ml: cannot find the registry of %r; register a SketchCollector on it "
            "for feature histograms on the scrape endpoint.",
            reader,
        )
        return False
    with _LOCK:
        if registry not in _BRIDGED_REGISTRIES:
            SketchCollector().register(registry)
            _BRIDGED_REGISTRIES.add(registry)
    return True


def bridge_readers(provider: object) -> int:
    """Bridge every metric reader of ``provider`` to otel_ml's sketches; return how many.

    Readers already bridged count and are left alone, so calling this twice
    changes nothing.

    Examples
    --------
    >>> from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
    >>> periodic = PeriodicExportingMetricReader(ConsoleMetricExporter(), 60_000)
    >>> scrape = PrometheusMetricReader(registry=CollectorRegistry())
    >>> provider = MeterProvider(metric_readers=[periodic, scrape])
    >>> bridge_readers(provider), bridge_readers(provider)
    (2, 2)
    >>> type(periodic._exporter).__name__
    'SketchMetricExporter'
    >>> provider.shutdown()
    """
    if not isinstance(provider, MeterProvider):
        return 0
    bridged = 0
    for reader in _readers(provider):
        if isinstance(reader, PeriodicExportingMetricReader):
            bridged += _bridge_periodic(reader)
        elif isinstance(reader, PrometheusMetricReader):
            bridged += _bridge_prometheus(reader)
    return bridged
