// Exports tool-call spans to Toolwatch's OTLP/HTTP receiver with the
// OpenTelemetry JS SDK (sdk-trace-node + the OTLP protobuf exporter), the
// way an instrumented Node agent runtime does. Used by app/otlp_test.go.
//
// Env: OTLP_URL (http://host:port/v1/traces), AGENT, COUNT (warm-up calls,
// ~150 ms each, one per second ending a few seconds ago), ANOMALY_MS (the
// duration of one last call). Prints one JSON line per span:
// {"trace_id","span_id","start_ms","duration_ms"} and exits 0 once the
// exporter reported success for every span.
'use strict';
const { trace } = require('@opentelemetry/api');
const { Resource } = require('@opentelemetry/resources');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');

const url = process.env.OTLP_URL;
const agent = process.env.AGENT || 'node-agent';
const count = Number(process.env.COUNT || '300');
const anomalyMs = Number(process.env.ANOMALY_MS || '30120');

// The exporter reports failures through the SDK's diag logger and the
// processor's export result; count them so a lost batch fails the run.
let failed = 0;
const exporter = new OTLPTraceExporter({ url, timeoutMillis: 10000 });
const origExport = exporter.export.bind(exporter);
exporter.export = (spans, done) => origExport(spans, (res) => {
  if (res.code !== 0) { failed += spans.length; console.error('export failed:', res.error && res.error.message); }
  done(res);
});

const provider = new NodeTracerProvider({
  resource: new Resource({ 'service.name': 'node-runtime', 'deployment.environment.name': 'production' }),
});
provider.addSpanProcessor(new BatchSpanProcessor(exporter, { maxExportBatchSize: 128, scheduledDelayMillis: 50 }));
provider.register();
const tracer = trace.getTracer('toolwatch-otlp-node-test');

// Deterministic log-normal-ish durations around 150 ms (Box-Muller on an LCG).
let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) + 1) / 2147483649;
const normal = () => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());

const start = Date.now() - (count + 5) * 1000;
const out = [];
for (let i = 0; i <= count; i++) {
  const startMs = start + i * 1000;
  const durationMs = i < count ? Math.round(150 * Math.exp(0.3 * normal())) : anomalyMs;
  const span = tracer.startSpan('tool customer-lookup', {
    startTime: startMs,
    attributes: {
      'tool.name': 'customer-lookup', 'tool.version': '2.3.1', 'tool.publisher': 'acme-tools',
      'tool.trust_level': 'gold', 'agent.id': agent, 'task.id': 'task-' + i,
      'data.classification': 'internal', 'invocation.status': 'success',
      'permissions.used': ['data_access:read'],
    },
  });
  span.end(startMs + durationMs);
  const ctx = span.spanContext();
  out.push({ trace_id: ctx.traceId, span_id: ctx.spanId, start_ms: startMs, duration_ms: durationMs });
}

provider.shutdown().then(() => {
  if (failed > 0) {
    console.error(failed + ' spans were not exported');
    process.exit(1);
  }
  for (const o of out) console.log(JSON.stringify(o));
}, (err) => { console.error('shutdown failed:', err); process.exit(1); });
