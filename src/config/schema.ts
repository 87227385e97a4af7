import { z } from 'zod';
import { priorityName } from '../../outputs/kit/common.js';
import { duration, byteSize } from '../../outputs/kit/duration.js';
import { templatedFieldsSchema } from './templated-fields.js';

const redisNode = z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) });
const redisTls = z.strictObject({
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  insecureSkipVerify: z.boolean().default(false),
});

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
  /** Added to the output_fields of every alert this route matches (before later routes are tried). */
  customFields: z.record(z.string(), z.string()).optional(),
});

const listenTlsSchema = z.strictObject({
  /** Paths to PEM files. */
  cert: z.string().min(1),
  key: z.string().min(1),
  /** CA bundle that signs client certificates (mTLS). */
  ca: z.string().min(1).optional(),
  /** Refuse, at the handshake, clients without a certificate signed by `ca`. */
  requireClientCert: z.boolean().default(false),
});

/** A namespace a tenant may post: a name or "/regex/". */
const namespacePattern = z.string().min(1);
const tenantClaims = {
  /** Written to each alert as output_fields["falconet.tenant"]; routes match `tenant`. */
  tenant: z.string().min(1).optional(),
  /** Written as output_fields["falconet.cluster"]; routes match `cluster`. */
  cluster: z.string().min(1).optional(),
  /** Alerts whose k8s.ns.name / ka.target.namespace is not listed are refused with 403. */
  namespaces: z.array(namespacePattern).min(1).optional(),
  /** Alerts per second this identity may post (per collector replica); over it: 429 + Retry-After. */
  rateLimit: z.number().positive().optional(),
};
export const authSchema = z.strictObject({
  tokens: z
    .array(z.strictObject({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'token names use letters, digits, ., - and _'), token: z.string().min(16, 'at least 16 characters'), ...tenantClaims }))
    .default([]),
  clientCerts: z
    .array(z.strictObject({ subject: z.string().regex(/^\s*[A-Za-z]+=[^,]+(,\s*[A-Za-z]+=[^,]+)*\s*$/, 'a subject like "CN=falco-team1" or "CN=x, O=y"'), name: z.string().optional(), ...tenantClaims }))
    .default([]),
});

export const rootSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(2801),
      /** Largest accepted request body; larger gets 413. */
      maxBodySize: byteSize.default(2 * 1024 * 1024),
      /** A client must finish sending its request headers within this (slow-loris), else 408 and closed. */
      headersTimeout: duration.default(10_000),
      /** A client must finish sending its whole request (headers and body) within this. */
      requestTimeout: duration.default(30_000),
      /** HTTPS instead of HTTP; certificate files are re-read on SIGHUP and when they change. */
      tls: listenTlsSchema.optional(),
      /** Plain-HTTP port beside TLS serving only probe paths (kubelet probes); nothing else. */
      plain: z
        .strictObject({
          port: z.number().int().min(0).max(65535),
          host: z.string().optional(),
          paths: z.array(z.string().startsWith('/')).min(1).default(['/healthz', '/readyz', '/metrics']),
        })
        .optional(),
    })
    .default({ host: '0.0.0.0', port: 2801, maxBodySize: 2 * 1024 * 1024, headersTimeout: 10_000, requestTimeout: 30_000 }),
  /** Inbound authentication: off unless tokens or client certificates are listed. */
  auth: authSchema.default({ tokens: [], clientCerts: [] }),
  redis: z
    .strictObject({
      /** redis:// or rediss:// (TLS); ACL user and password in it: rediss://user:pass@host:6380/0. */
      url: z.string().default('redis://127.0.0.1:6379'),
      /** Key prefix of every queue and key Falconet writes. With `cluster` it is hash-tagged: {falconet}. */
      prefix: z.string().regex(/^(\{[A-Za-z0-9_.-]+\}|[A-Za-z0-9_.-]+)$/).default('falconet'),
      /** Start a local redis-server when nothing answers at a loopback url. */
      embedded: z.boolean().default(true),
      /** For rediss://: CA, client certificate and key (PEM text or file paths). */
      tls: redisTls.optional(),
      /** Sentinel mode: the master named sentinelName is asked of these; url gives user, password, db. */
      sentinels: z.array(redisNode).min(1).optional(),
      sentinelName: z.string().min(1).optional(),
      sentinelUsername: z.string().optional(),
      sentinelPassword: z.string().optional(),
      /** Redis Cluster seed nodes; url gives user and password. */
      cluster: z.array(redisNode).min(1).optional(),
      /** Refuse to start when Redis may evict keys or persists nothing (otherwise: a warning). */
      requireDurable: z.boolean().default(false),
      /**
       * The collector answers 200 only once this many replicas confirm its write (Redis WAIT, within
       * spool.deadline); else it also spools it. Closes what asynchronous replication loses when a
       * master dies before a replica got the write (Sentinel failover). 0: no wait.
       */
      waitReplicas: z.number().int().min(0).max(10).default(0),
    })
    .superRefine((r, ctx) => {
      if (r.sentinels && !r.sentinelName) ctx.addIssue({ code: 'custom', path: ['sentinelName'], message: 'required with redis.sentinels (the master name the sentinels monitor)' });
      if (r.sentinels && r.cluster) ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'redis.sentinels and redis.cluster exclude each other' });
      if (r.cluster && r.waitReplicas > 0) ctx.addIssue({ code: 'custom', path: ['waitReplicas'], message: 'not supported with redis.cluster (use Sentinel, or min-replicas-to-write on the masters)' });
    })
    // Cluster: every key shares one hash tag, so BullMQ's and Falconet's multi-key scripts never cross slots.
    .transform((r) => (r.cluster && !r.prefix.startsWith('{') ? { ...r, prefix: `{${r.prefix}}` } : r))
    .default({ url: 'redis://127.0.0.1:6379', prefix: 'falconet', embedded: true, requireDurable: false, waitReplicas: 0 }),
  /** Global floor: less severe alerts are dropped before dedup and routing. */
  minimumPriority: priorityName.default('Debug'),
  /** Added to every alert's output_fields (e.g. the cluster name). */
  customFields: z.record(z.string(), z.string()).default({}),
  /** Appended to every alert's tags. */
  customTags: z.array(z.string().min(1)).default([]),
  /** Output fields computed per alert from a mustache template, after customFields: `team: "{{output_fields.k8s.ns.labels.team}}"`. */
  templatedFields: templatedFieldsSchema,
  metrics: z
    .strictObject({
      /** Also export falcosecurity_falcosidekick_inputs_total / _outputs_total, so Falcosidekick dashboards keep working. */
      sidekickCompat: z.boolean().default(false),
      /** Opt-in alert fields as labels of falconet_alerts_received_total (rule, output_fields keys like k8s.ns.name). */
      alertLabels: z.array(z.string().min(1)).max(8).default([]),
      /** Distinct values kept per alert label; later values are counted as "other". */
      alertLabelValues: z.number().int().min(1).max(10_000).default(100),
    })
    .default({ sidekickCompat: false, alertLabels: [], alertLabelValues: 100 }),
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
      /** Ingest entries (group commits) one worker process routes at once. */
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
  /** The web UI's event store (src/ui): bounded by count, bytes and age, whichever bites first. */
  ui: z
    .strictObject({
      /** Store alerts for /api/alerts and /ui/; off: nothing is written. */
      enabled: z.boolean().default(true),
      /** UI users (session cookie); passwordHash from `falconet hash-password`. tenant/namespaces limit what they see. */
      users: z
        .array(
          z.strictObject({
            name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]*$/, 'user names use letters, digits, ., @, - and _'),
            passwordHash: z.string().regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, 'a hash printed by `falconet hash-password` (scrypt$N$r$p$salt$hash)'),
            tenant: z.string().min(1).optional(),
            namespaces: z.array(z.string().min(1)).min(1).optional(),
          }),
        )
        .default([]),
      retention: z
        .strictObject({
          maxAlerts: z.number().int().min(1).max(100_000_000).default(100_000),
          /** Redis memory of the store, as estimated per alert (record + index entries; within 15% of MEMORY USAGE). */
          maxBytes: byteSize.default(256 * 1024 * 1024),
          maxAge: duration.default(7 * 24 * 3600 * 1000),
        })
        .default({ maxAlerts: 100_000, maxBytes: 256 * 1024 * 1024, maxAge: 7 * 24 * 3600 * 1000 }),
    })
    .default({ enabled: true, users: [], retention: { maxAlerts: 100_000, maxBytes: 256 * 1024 * 1024, maxAge: 7 * 24 * 3600 * 1000 } }),
  worker: z
    .strictObject({
      /** A job or ingest entry whose worker stops renewing it this long (a crashed or killed worker) counts as stalled. */
      // 8 s / 3 s: a kill -9'd worker's jobs run again within ~11 s (README, "Failure and recovery").
      lockDuration: duration.default(8_000),
      /** How often workers look for stalled jobs (and ingest entries) and put them back to be processed again. */
      stalledInterval: duration.default(3_000),
      /** Stalls one job may survive before it is failed (dead-lettered) as a poison job; for an ingest entry, failed runs count too. */
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
  /** Prometheus metrics (src/observability/metrics.ts). */
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .default({ level: 'info' }),
});

export type RootConfigInput = z.input<typeof rootSchema>;
export type RouteConfig = z.infer<typeof routeSchema>;
export type AuthConfig = z.infer<typeof authSchema>;
