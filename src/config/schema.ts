import { z } from 'zod';
import { priorityName } from '../../outputs/common.js';
import { duration, byteSize } from './duration.js';

/** A matcher value: exact string, a list (any of), "/regex/flags", or for priority ">=warning". */
export const matcherValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))]);
export const matcherMap = z.record(z.string(), matcherValue);

export const routeSchema = z.strictObject({
  /** A name for logs and `falconet route`; defaults to routes[i]. */
  name: z.string().optional(),
  /** Every condition must hold. No match, match_any or not: the route catches everything. */
  match: matcherMap.optional(),
  /** At least one of these condition maps must hold entirely. */
  match_any: z.array(matcherMap).min(1).optional(),
  /** The route does not apply when all of these conditions hold. */
  not: matcherMap.optional(),
  /** Every listed output receives a matching alert. */
  outputs: z.array(z.string()).min(1),
  /** Keep evaluating later routes after this one matched. */
  continue: z.boolean().default(false),
});

/** PagerDuty's default `dedupKey` fields (the repeats one incident folds). */
export const DEFAULT_DEDUP_KEY = ['rule', 'hostname', 'output_fields.container.id', 'output_fields.proc.cmdline'];

export const rootSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(2801),
      /** Largest accepted request body; larger gets 413. */
      maxBodySize: byteSize.default(2 * 1024 * 1024),
    })
    .default({ host: '0.0.0.0', port: 2801, maxBodySize: 2 * 1024 * 1024 }),
  redis: z
    .strictObject({
      url: z.string().default('redis://127.0.0.1:6379'),
      /** Key prefix of every queue and key Falconet writes. */
      prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('falconet'),
      /** Start a local redis-server when nothing answers at a loopback url. */
      embedded: z.boolean().default(true),
    })
    .default({ url: 'redis://127.0.0.1:6379', prefix: 'falconet', embedded: true }),
  /** Global floor: less severe alerts are dropped before dedup and routing. */
  minimumPriority: priorityName.default('Debug'),
  /** Added to every alert's output_fields (e.g. the cluster name). */
  customFields: z.record(z.string(), z.string()).default({}),
  dedup: z
    .strictObject({
      /** The same Falco event received again inside this window is dropped (counted); 0 turns it off. */
      window: duration.default(600_000),
      key: z
        .never({
          error:
            'the global dedup drops exact duplicates of one Falco event only and takes no key; to fold similar alerts for one destination use outputs.<name>.dedup: { window, key }',
        })
        .optional(),
    })
    .default({ window: 600_000 }),
  router: z
    .strictObject({
      /** Ingest jobs one worker process works on at once. */
      concurrency: z.number().int().min(1).max(4096).default(256),
      /**
       * Unbatched outputs without a rate limit get each alert's first send straight from the router
       * when a send slot is free; the delivery queue takes retries and whatever finds no slot.
       */
      directDelivery: z.boolean().default(true),
    })
    .default({ concurrency: 256, directDelivery: true }),
  /** Named output instances; each `type` is one folder of outputs/. Validated per type. */
  outputs: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'output names use letters, digits, - and _'), z.unknown()),
  routes: z.array(routeSchema).min(1),
  /** Dead letters (src/dlq): alerts an output or the router could not take, kept apart for `falconet dlq`. */
  dlq: z
    .strictObject({
      /** Records whose last attempt is older are pruned. */
      maxAge: duration.default(14 * 24 * 3600 * 1000),
      /** At most this many records per output; the oldest are pruned first. */
      maxPerOutput: z.number().int().min(1).max(10_000_000).default(100_000),
    })
    .default({ maxAge: 14 * 24 * 3600 * 1000, maxPerOutput: 100_000 }),
  worker: z
    .strictObject({
      /** A job whose worker stops renewing its lock this long (a crashed or killed worker) counts as stalled. */
      // 8 s / 3 s: a kill -9'd worker's jobs run again within ~11 s (README, "Failure and recovery").
      lockDuration: duration.default(8_000),
      /** How often workers look for stalled jobs and put them back to be processed again. */
      stalledInterval: duration.default(3_000),
      /** Stalls one job may survive before it is failed (dead-lettered) as a poison job. */
      maxStalledCount: z.number().int().min(0).max(100).default(5),
      /** `falconet worker` serves GET /metrics and /healthz here (0: a free port; the collector serves its own). */
      metricsPort: z.number().int().min(0).max(65535).default(2802),
    })
    .default({ lockDuration: 8_000, stalledInterval: 3_000, maxStalledCount: 5, metricsPort: 2802 }),
  spool: z
    .strictObject({
      /** The collector's write-ahead log for when Redis cannot take a write (one subdirectory per redis.prefix). */
      dir: z.string().min(1).default('data/spool'),
      /** Largest spool on disk; when full (and Redis unreachable) requests get 503. */
      maxBytes: byteSize.default(1024 ** 3),
      /** A Redis write not answered within this goes to the spool instead. */
      deadline: duration.default(500),
    })
    .default({ dir: 'data/spool', maxBytes: 1024 ** 3, deadline: 500 }),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .default({ level: 'info' }),
});

export type RootConfigInput = z.input<typeof rootSchema>;
export type RouteConfig = z.infer<typeof routeSchema>;
