import { z } from 'zod';
import { PRIORITIES, parsePriority, type Priority } from '../../src/alert/priority.js';
import { byteSize, duration } from './duration.js';

export const priorityName = z.string().transform((value, ctx): Priority => {
  const p = parsePriority(value);
  if (!p) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a priority (one of ${PRIORITIES.join(', ').toLowerCase()})` });
    return z.NEVER;
  }
  return p;
});

/** The severity vocabulary of PagerDuty and conventional Alertmanager routes (outputs.md §0.2). */
export const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const DEFAULT_SEVERITY: Readonly<Record<Priority, Severity>> = {
  Emergency: 'critical',
  Alert: 'critical',
  Critical: 'critical',
  Error: 'error',
  Warning: 'warning',
  Notice: 'info',
  Informational: 'info',
  Debug: 'info',
};

/** A partial map from priority names (any case, `info` too) to values, e.g. a `severityMap`. */
export function priorityMap<V extends z.ZodType>(value: V) {
  return z
    .record(z.string(), value)
    .transform((raw, ctx) => {
      const out: Partial<Record<Priority, z.output<V>>> = {};
      for (const [key, v] of Object.entries(raw)) {
        const priority = parsePriority(key);
        if (!priority) ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" is not a Falco priority` });
        else out[priority] = v as z.output<V>;
      }
      return out;
    })
    .default({});
}

/** Retry defaults: 10 tries, backoff 1 s doubling to 60 s, given up after 24 h, Retry-After at most 5 min. */
export const DEFAULT_RETRY = { attempts: 10, backoff: 1000, maxBackoff: 60_000, maxDuration: 24 * 3600 * 1000, maxRetryAfter: 300_000 };

export const retryConfig = z.strictObject({
  /** Total tries including the first. */
  attempts: z.number().int().min(1).max(100).default(10),
  /** First backoff; doubles each attempt, with full jitter. */
  backoff: duration.default(1000),
  /** Cap for one backoff. */
  maxBackoff: duration.default(60_000),
  /** From the first failed send: past this, the next failure dead-letters the alerts whatever the attempts left. */
  maxDuration: duration.default(DEFAULT_RETRY.maxDuration),
  /** The longest pause a Retry-After may impose (a bogus header must not stall an output for days). */
  maxRetryAfter: duration.default(DEFAULT_RETRY.maxRetryAfter),
});

export const rateLimitConfig = z.strictObject({
  /** At most `max` sends per `per` for this output (all workers together). */
  max: z.number().int().positive(),
  per: duration.default(1000),
});

export const batchConfig = z.strictObject({
  /** Alerts per request at most. */
  size: z.number().int().min(1).max(10_000).default(100),
  /** Bytes per request at most (the JSON of the alerts); a batch is split to fit. */
  maxBytes: byteSize.default(4 * 1024 * 1024),
  /** How long the router waits to fill a batch before sending a partial one. */
  interval: duration.default(1000).refine((v) => v <= 10_000, 'at most 10s (ingest jobs are held meanwhile)'),
});

const ALERT_FIELD = /^(rule|priority|source|hostname|output|tags|output_fields\..+)$/;

/** An alert field a key is made of; a typo (`hostnme`) would read as null on every alert and fold them all together. */
export const alertFieldPath = z.string().regex(ALERT_FIELD, 'an alert field: rule, priority, source, hostname, output, tags or output_fields.<key>');

/**
 * Storm control for one output (`outputs.<name>.dedup`): inside `window` the first alert of a key
 * goes out at once, the rest are counted and sent as one digest when the window ends.
 */
export const stormControlConfig = z.strictObject({
  window: duration.refine((v) => v > 0, 'must be more than 0 (leave dedup out to send every alert)').default(300_000),
  /** Alert fields that make alerts "the same storm", e.g. [rule, output_fields.k8s.ns.name]. */
  key: z
    .array(alertFieldPath)
    .min(1)
    .default(['rule']),
});

/**
 * What a rate-limited output does when its backlog exceeds `after` (time to drain at its rate):
 * `digest` folds further alerts into digests (by `dedup.key`, else by rule) for `window`;
 * `queue` keeps queueing everything. The default comes from the output type.
 */
export const overflowConfig = z.strictObject({
  mode: z.enum(['digest', 'queue']).optional(),
  after: duration.refine((v) => v > 0, 'must be more than 0').default(60_000),
  /** How long one overflow digest collects (default: `dedup.window`, else 1m). */
  window: duration.refine((v) => v > 0, 'must be more than 0').optional(),
});

/**
 * Sends in flight per output and worker process. 4 held one worker's unbatched webhook to ~600
 * alerts/s under overload on a 2-core machine, bound by the destination's answer time rather than
 * by CPU; 16 reached ~1,800/s (bench/README.md, issue #10). Falcosidekick bounds nothing.
 */
export const DEFAULT_CONCURRENCY = 16;

/** Keys every output instance accepts. */
export const commonOutputShape = {
  type: z.string(),
  /** Only alerts at least this severe reach this output. */
  minimumPriority: priorityName.optional(),
  /** Per-request timeout. */
  timeout: duration.default(10_000),
  /** Parallel sends for this output (per worker process). */
  concurrency: z.number().int().min(1).max(1000).default(DEFAULT_CONCURRENCY),
  retry: retryConfig.default(DEFAULT_RETRY),
  rateLimit: rateLimitConfig.optional(),
  /** Added to the output_fields of the alerts this output sends (after the global and route ones). */
  customFields: z.record(z.string(), z.string()).optional(),
  batch: batchConfig.optional(),
  dedup: stormControlConfig.optional(),
  overflow: overflowConfig.optional(),
};

export type CommonOutputConfig = {
  type: string;
  minimumPriority?: Priority;
  timeout: number;
  concurrency: number;
  retry: z.infer<typeof retryConfig>;
  rateLimit?: z.infer<typeof rateLimitConfig>;
  customFields?: Record<string, string>;
  batch?: z.infer<typeof batchConfig>;
  dedup?: z.infer<typeof stormControlConfig>;
  overflow?: z.infer<typeof overflowConfig>;
};
