// Exports one counter and one histogram in the ml. namespace into an OTLP/HTTP endpoint
// with the OpenTelemetry JavaScript SDK's own exporters (Node streams the request body
// with Transfer-Encoding: chunked).
//
//   node export_metrics.js URL PROTOCOL COMPRESSION MODEL
//     URL          e.g. http://127.0.0.1:4318/v1/metrics
//     PROTOCOL     json (exporter-metrics-otlp-http) or protobuf (exporter-metrics-otlp-proto)
//     COMPRESSION  none or gzip
//     MODEL        the ml.model.name attribute
//
// Prints one JSON line {"code": ..., "error": ...} (code 0 = SUCCESS) and exits with it.
'use strict';

const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } =
  require('@opentelemetry/sdk-metrics');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const [url, protocol, compression, model] = process.argv.slice(2);
const { OTLPMetricExporter } = protocol === 'protobuf'
  ? require('@opentelemetry/exporter-metrics-otlp-proto')
  : require('@opentelemetry/exporter-metrics-otlp-http');

async function main() {
  const exporter = new OTLPMetricExporter({
    url,
    compression,
    temporalityPreference: AggregationTemporality.DELTA,
    timeoutMillis: 10000,
  });
  let result = null;
  const wrapped = {
    export(metrics, done) {
      exporter.export(metrics, (r) => {
        result = r;
        done(r);
      });
    },
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    selectAggregationTemporality: (k) => exporter.selectAggregationTemporality(k),
    selectAggregation: (k) => exporter.selectAggregation(k),
  };
  const reader = new PeriodicExportingMetricReader({
    exporter: wrapped,
    exportIntervalMillis: 3600000,
  });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'js-client' }),
    readers: [reader],
  });
  const meter = provider.getMeter('js-client-test');
  const attrs = { 'ml.model.name': model, 'ml.model.version': '1' };
  meter.createCounter('ml.predict.calls', { unit: '{call}' }).add(3, attrs);
  meter.createCounter('ml.predict.rows', { unit: '{row}' }).add(30, attrs);
  const duration = meter.createHistogram('ml.predict.duration', { unit: 's' });
  for (const v of [0.01, 0.02, 0.05, 0.2]) duration.record(v, attrs);
  await provider.forceFlush();
  await provider.shutdown();
  const code = result === null ? -1 : result.code;
  const error = result && result.error ? String(result.error.message || result.error) : null;
  process.stdout.write(JSON.stringify({ code, error }) + '\n');
  process.exitCode = code === 0 ? 0 : 1;
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ code: -1, error: String(err) }) + '\n');
  process.exitCode = 1;
});
