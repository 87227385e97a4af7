import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerSidekickCompat } from './sidekick-compat.js';

/** Process-wide defaults, set once by the CLI from the config before any role starts. */
const defaults = { sidekickCompat: false };
export function setMetricsDefaults(options: { sidekickCompat: boolean }): void {
  defaults.sidekickCompat = options.sidekickCompat;
}

/**
 * Falconet's Prometheus metrics. Labels are bounded: output names come from config, `reason` is the
 * closed FailureReason set, `status` is ok|retry|failed|rejected. Never a rule, host or pod label.
 */
export function createMetrics(options: { sidekickCompat?: boolean } = {}) {
  const registry = new Registry();
  if (options.sidekickCompat ?? defaults.sidekickCompat) registerSidekickCompat(registry);
  collectDefaultMetrics({ register: registry, prefix: 'falconet_' });
  /** The collector plugs its spool in here; read at scrape time. */
  const spoolSource = { bytes: () => 0, oldestReceivedAt: (): number | undefined => undefined };
  return {
    registry,
    spoolSource,
    spoolBytes: new Gauge({
      name: 'falconet_spool_bytes',
      help: 'Bytes in the collector spool not yet replayed into Redis',
      registers: [registry],
      collect() {
        this.set(spoolSource.bytes());
      },
    }),
    spoolOldestSeconds: new Gauge({
      name: 'falconet_spool_oldest_seconds',
      help: 'Age of the oldest alert in the collector spool (0 when empty)',
      registers: [registry],
      collect() {
        const at = spoolSource.oldestReceivedAt();
        this.set(at === undefined ? 0 : Math.max(0, (Date.now() - at) / 1000));
      },
    }),
    spooledAlerts: new Counter({
      name: 'falconet_spool_spooled_alerts_total',
      help: 'Alerts the collector wrote to its spool because Redis did not take them in time',
      registers: [registry],
    }),
    replayedAlerts: new Counter({
      name: 'falconet_spool_replayed_alerts_total',
      help: 'Alerts replayed from the spool into Redis',
      registers: [registry],
    }),
    spoolFull: new Counter({
      name: 'falconet_spool_full_total',
      help: 'Requests refused with 503 because Redis was unreachable and the spool was full',
      registers: [registry],
    }),
    spoolSkippedBytes: new Counter({
      name: 'falconet_spool_skipped_bytes_total',
      help: 'Spool bytes skipped on replay because they were not an intact record (a torn tail)',
      registers: [registry],
    }),
    requests: new Counter({
      name: 'falconet_ingest_requests_total',
      help: 'HTTP requests to the collector ingest endpoint, by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    alertsAccepted: new Counter({
      name: 'falconet_alerts_accepted_total',
      help: 'Alerts written to Redis by the collector',
      registers: [registry],
    }),
    routed: new Counter({
      name: 'falconet_alerts_routed_total',
      help: 'Alerts leaving the router, by outcome (routed, dropped_priority, duplicate, unrouted)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    suppressed: new Counter({
      name: 'falconet_alerts_suppressed_total',
      help: 'Routed alerts not queued for an output: folded into a digest (storm, overflow) or already queued by an earlier run of their ingest job (replay)',
      labelNames: ['output', 'reason'] as const,
      registers: [registry],
    }),
    digests: new Counter({
      name: 'falconet_digests_queued_total',
      help: 'Digests queued per output, and the alerts they count (label kind: digests|alerts)',
      labelNames: ['output', 'kind'] as const,
      registers: [registry],
    }),
    delivered: new Counter({
      name: 'falconet_alerts_delivered_total',
      help: 'Alerts per output by delivery status (ok, retry, failed, rejected)',
      labelNames: ['output', 'status'] as const,
      registers: [registry],
    }),
    deliveryFailures: new Counter({
      name: 'falconet_delivery_failures_total',
      help: 'Failed send attempts per output by reason',
      labelNames: ['output', 'reason'] as const,
      registers: [registry],
    }),
    deliverySeconds: new Histogram({
      name: 'falconet_delivery_duration_seconds',
      help: 'Duration of one send to an output',
      labelNames: ['output'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    groupCommitSize: new Histogram({
      name: 'falconet_ingest_batch_alerts',
      help: 'Alerts per Redis write (group commit)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'falconet_queue_waiting_jobs',
      help: 'Waiting jobs per queue',
      labelNames: ['queue'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
