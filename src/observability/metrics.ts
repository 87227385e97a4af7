import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { alertLabelNames, alertLabelValues, type AlertLabelOptions } from './alert-labels.js';

/** What became of an alert in the router (falconet_alerts_routed_total{outcome}). */
export type RoutedOutcome = 'routed' | 'dropped_priority' | 'duplicate' | 'unrouted' | 'dead_lettered';

/** One queue's job counts, read from Redis at scrape time. */
export interface QueueCounts {
  queue: string;
  counts: Partial<Record<QueueState, number>>;
}
export type QueueState = 'waiting' | 'active' | 'delayed' | 'failed' | 'dlq';
const QUEUE_STATES: readonly QueueState[] = ['waiting', 'active', 'delayed', 'failed', 'dlq'];

/**
 * prom-client's default metrics include gauges named `*_total`, which promtool (rightly) rejects:
 * a `_total` suffix promises a counter. Their un-suffixed siblings (by type) carry the same data.
 */
const MISNAMED_DEFAULTS = ['falconet_nodejs_active_handles_total', 'falconet_nodejs_active_requests_total', 'falconet_nodejs_active_resources_total'];
import { registerSidekickCompat } from './sidekick-compat.js';

/** Process-wide defaults, set once by the CLI from the config before any role starts. */
const defaults = { sidekickCompat: false };
export function setMetricsDefaults(options: { sidekickCompat: boolean }): void {
  defaults.sidekickCompat = options.sidekickCompat;
}

/**
 * Falconet's Prometheus metrics. Labels are bounded: output names come from config, `reason` is the
 * closed FailureReason set, `status` and `stage` are closed sets, `source` and `priority` are capped.
 * Never a rule, host or pod label unless `metrics.alertLabels` asks for one (capped too).
 *
 * Accounting, each alert once per outcome:
 * - collector: `falconet_alerts_received_total{status}`: accepted | spooled | rejected (| unauthorized | forbidden);
 * - router: `falconet_alerts_routed_total{outcome}`: routed | dropped_priority | duplicate | unrouted | dead_lettered;
 * - per output: routed alerts end in `falconet_deliveries_total{status="ok|rejected|failed"}` or
 *   `falconet_alerts_suppressed_total{stage="storm|overflow|replay"}`; `status="retry"` counts sends to try again.
 */
export function createMetrics(options: { sidekickCompat?: boolean; alertLabels?: AlertLabelOptions } = {}) {
  const opts = options;
  const registry = new Registry();
  if (options.sidekickCompat ?? defaults.sidekickCompat) registerSidekickCompat(registry);
  collectDefaultMetrics({ register: registry, prefix: 'falconet_' });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  const alertLabelFields = opts.alertLabels?.fields ?? [];
  const labelNames = alertLabelNames(alertLabelFields);
  /** The collector plugs its spool in here; read at scrape time. */
  const spoolSource = { bytes: () => 0, oldestReceivedAt: (): number | undefined => undefined };
  /** Each role plugs in the queues it knows; read at scrape time (one small Redis round trip per queue). */
  const queueSource = { counts: async (): Promise<QueueCounts[]> => [] };
  const labelsOf = alertLabelValues(alertLabelFields, opts.alertLabels?.maxValues ?? 100);

  const received = new Counter({
    name: 'falconet_alerts_received_total',
    help: 'Alerts that reached the collector, by source, priority and status (accepted, spooled; refused: rejected, unauthorized, forbidden per request, rate_limited, unavailable per alert)',
    labelNames: [...labelNames, 'status'],
    registers: [registry],
    collect() {
      for (const [key, n] of pending) this.inc(Object.fromEntries(key.split('\u0000').map((v, i) => [allLabels[i]!, v])), n);
      pending.clear();
    },
  });
  // prom-client hashes a label object on every inc: per alert, only a count per label set is kept
  // here, added to the counter when it is read (scrape, tests through collect).
  const pending = new Map<string, number>();
  const allLabels = [...labelNames, 'status'];
  // The same for falconet_ingest_requests_total, counted once per request (countRequest).
  const pendingRequests = new Map<string, number>();
  const count = (values: string[], n: number) => {
    const key = values.join('\u0000');
    pending.set(key, (pending.get(key) ?? 0) + n);
  };
  // falconet_deliveries_total{status="ok"}, counted once per send (countDelivered): a plain
  // number per output, added to the counter when it is read, as `pending` above.
  const pendingDelivered = new Map<string, { n: number }>();
  const pendingRouted = new Map<RoutedOutcome, { n: number }>();
  const countText = (text: string, suffix: string) => {
    const key = labelsOf(text).join('\u0000') + suffix;
    pending.set(key, (pending.get(key) ?? 0) + 1);
  };
  return {
    registry,
    spoolSource,
    queueSource,
    received,
    /** Counts one request's alerts (raw JSON texts) under `status`. Per alert: two string searches and a map update. */
    countReceived(texts: readonly string[], status: string): void {
      const suffix = `\u0000${status}`;
      for (let i = 0; i < texts.length; i++) countText(texts[i]!, suffix);
    },
    /** The same for the collector's [id, text] pairs, without an array of texts per request. */
    countReceivedAlerts(alerts: ReadonlyArray<readonly [string, string]>, status: string): void {
      const suffix = `\u0000${status}`;
      for (let i = 0; i < alerts.length; i++) countText(alerts[i]![1], suffix);
    },
    /** One ingest request by result (falconet_ingest_requests_total): a plain count, added to the counter when read. */
    countRequest(result: string): void {
      pendingRequests.set(result, (pendingRequests.get(result) ?? 0) + 1);
    },
    /** A request refused before its alerts could be read (bad body, no token): one count, labels unknown. */
    countRefused(status: string, n = 1): void {
      count([...labelNames.map(() => 'unknown'), status], n);
    },
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
      collect() {
        for (const [result, n] of pendingRequests) this.inc({ result }, n);
        pendingRequests.clear();
      },
    }),
    routed: new Counter({
      name: 'falconet_alerts_routed_total',
      help: 'Alerts leaving the router, by outcome (routed, dropped_priority, duplicate, unrouted, dead_lettered)',
      labelNames: ['outcome'] as const,
      registers: [registry],
      collect() {
        // A count of 0 still shows the series, as inc(…, 0) did.
        for (const [outcome, pending] of pendingRouted) this.inc({ outcome }, pending.n);
        pendingRouted.clear();
      },
    }),
    /**
     * Counts alerts leaving the router under `outcome` (falconet_alerts_routed_total): the router
     * counts four outcomes per ingest entry, so per entry only numbers are added; prom-client's
     * label hashing runs when the counter is read.
     */
    countRouted(outcome: RoutedOutcome, n: number): void {
      const pending = pendingRouted.get(outcome);
      if (pending) pending.n += n;
      else pendingRouted.set(outcome, { n });
    },
    suppressed: new Counter({
      name: 'falconet_alerts_suppressed_total',
      help: 'Routed alerts not queued for an output, by stage: folded into a digest (storm, overflow) or already queued by an earlier run of their ingest job (replay)',
      labelNames: ['stage', 'output'] as const,
      registers: [registry],
    }),
    digests: new Counter({
      name: 'falconet_digests_queued_total',
      help: 'Digests queued per output, and the alerts they count (label kind: digests|alerts)',
      labelNames: ['output', 'kind'] as const,
      registers: [registry],
    }),
    deliveries: new Counter({
      name: 'falconet_deliveries_total',
      help: 'Alerts per output by delivery status (ok, rejected, failed: final; retry: to be sent again) and failure reason (none when ok)',
      labelNames: ['output', 'status', 'reason'] as const,
      registers: [registry],
      collect() {
        for (const [output, pending] of pendingDelivered) {
          if (pending.n === 0) continue;
          this.inc({ output, status: 'ok', reason: 'none' }, pending.n);
          pending.n = 0;
        }
      },
    }),
    /**
     * Counts `n` alerts delivered to `output` (falconet_deliveries_total{status="ok"}): per send
     * only a number is added; prom-client's label hashing runs when the counter is read.
     */
    deliveredCounter(output: string): (n: number) => void {
      let pending = pendingDelivered.get(output);
      if (!pending) pendingDelivered.set(output, (pending = { n: 0 }));
      const counted = pending;
      return (n) => void (counted.n += n);
    },
    deliverySeconds: new Histogram({
      name: 'falconet_delivery_duration_seconds',
      help: 'Duration of one send to an output',
      labelNames: ['output'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    endToEndSeconds: new Histogram({
      name: 'falconet_end_to_end_seconds',
      help: 'From the Falco event time of an alert to its delivery to an output',
      labelNames: ['output'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers: [registry],
    }),
    groupCommitSize: new Histogram({
      name: 'falconet_ingest_batch_alerts',
      help: 'Alerts per Redis write (group commit)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers: [registry],
    }),
    queueJobs: new Gauge({
      name: 'falconet_queue_jobs',
      help: 'Jobs per queue and state (waiting, active, delayed, failed; dlq: dead letters of the output), read from Redis at scrape time',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        let rows: QueueCounts[];
        try {
          rows = await queueSource.counts();
        } catch {
          return; // Redis unreachable: no sample rather than a stale one.
        }
        for (const { queue, counts } of rows) {
          for (const state of QUEUE_STATES) {
            const n = counts[state];
            if (n !== undefined) this.set({ queue, state }, n);
          }
        }
      },
    }),
    reloads: new Counter({
      name: 'falconet_config_reloads_total',
      help: 'Config reloads (SIGHUP, POST /-/reload) by result (success, failure)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    reloadSuccessful: new Gauge({
      name: 'falconet_config_last_reload_successful',
      help: 'Whether the last config (re)load succeeded (1) or was refused (0)',
      registers: [registry],
    }),
    reloadSuccessTime: new Gauge({
      name: 'falconet_config_last_reload_success_timestamp_seconds',
      help: 'When the running config was loaded',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
