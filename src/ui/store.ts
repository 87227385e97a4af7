import type { RedisClient as Redis } from '../queue/connection.js';
import { alertNamespace, type Alert } from '../alert/alert.js';
import { alertJson } from '../alert/json.js';
import { TENANT_FIELD } from '../auth/authenticator.js';
import { ADD_SCRIPT, INDEX_EXPIRY_RENEW_MS, STATUS_SCRIPT } from './scripts.js';

export interface Retention {
  maxAlerts: number;
  maxBytes: number;
  maxAge: number;
}

export type DeliveryState = 'pending' | 'delivered' | 'retrying' | 'dead_lettered' | 'suppressed';

export interface DeliveryStatus {
  status: DeliveryState;
  attempts: number;
  lastError?: string;
  deliveredAt?: number;
  reason?: string;
}

export interface StatusChange {
  id: string;
  output: string;
  status: DeliveryStatus;
  /** Write only while the output's status is still `pending`. */
  onlyOverPending?: boolean;
}

/** One alert about to be stored: the alert and the outputs it was routed to (none when dropped). */
export interface StoreInput {
  alert: Alert;
  outputs: readonly string[];
}

/** The fields the store indexes: each value is one sorted set, walked newest first by a query. */
export const INDEXED = ['priority', 'rule', 'source', 'hostname', 'namespace', 'tenant', 'tag'] as const;
export type IndexedField = (typeof INDEXED)[number];

type StoreRedis = Redis & {
  falconetUiAdd(...argv: Array<string | number>): Promise<[number, number]>;
  falconetUiStatus(...argv: string[]): Promise<number>;
};

/** Output summaries in /api/events are cut here: the page fetches the whole alert when opened. */
const SUMMARY_OUTPUT_CHARS = 300;
const MAX_STATUS_ERROR = 500;

/**
 * The web UI's event store, in the same Redis as the queues (src/ui/scripts.ts has the layout).
 * Bounded by count, bytes and age, whichever bites first: every write evicts the oldest alerts
 * beyond a bound, within the same script call.
 */
export class AlertStore {
  readonly key: string;
  private readonly redis: StoreRedis;
  /** Index key suffix → when this process last renewed its expiry (performance.now()). */
  private readonly renewedAt = new Map<string, number>();

  constructor(
    redis: Redis,
    prefix: string,
    readonly retention: Retention,
  ) {
    this.key = `${prefix}:ui`;
    if (!('falconetUiAdd' in redis)) {
      // One declared key (the script reads the others from ARGV; with Cluster the prefix is
      // hash-tagged, so every store key is in that key's slot): a Cluster client routes by it.
      redis.defineCommand('falconetUiAdd', { numberOfKeys: 1, lua: ADD_SCRIPT });
      redis.defineCommand('falconetUiStatus', { numberOfKeys: 1, lua: STATUS_SCRIPT });
    }
    this.redis = redis as StoreRedis;
  }

  get events(): string {
    return `${this.key}:events`;
  }

  /** Stores a batch of alerts in one script call; an alert already stored (same id) is left as it is. */
  async add(items: readonly StoreInput[]): Promise<{ stored: number; evicted: number }> {
    if (items.length === 0) return { stored: 0, evicted: 0 };
    const { maxAlerts, maxBytes, maxAge } = this.retention;
    const ttl = Math.ceil(maxAge / 1000) + 3600;
    const argv: Array<string | number> = [this.key, maxAlerts, maxBytes, maxAge * 1000, ttl, ''];
    const now = performance.now();
    if (this.renewedAt.size > 100_000) this.renewedAt.clear();
    const renew: string[] = [];
    for (const { alert, outputs } of items) {
      const values = indexValues(alert);
      const ix: string[] = [];
      for (const field of INDEXED) for (const v of values[field]) ix.push(indexSuffix(field, v));
      for (const key of ix) {
        if (now - (this.renewedAt.get(key) ?? -Infinity) < INDEX_EXPIRY_RENEW_MS) continue;
        this.renewedAt.set(key, now);
        renew.push(key);
      }
      const counters = [`p:${alert.priority}`, `r:${clean(alert.rule)}`, `s:${clean(alert.source)}`];
      if (values.namespace[0] !== undefined) counters.push(`n:${values.namespace[0]}`);
      argv.push(
        alert.id,
        ix.join('\x1f'),
        outputs.map(clean).join('\x1f'),
        alertJson(alert),
        JSON.stringify(summaryOf(alert, values)),
        counters.join('\x1f'),
        values.tenant[0] ?? '',
      );
    }
    argv[5] = renew.join('\x1f');
    const [stored, evicted] = await this.redis.falconetUiAdd(`${this.key}:idx`, ...argv);
    return { stored, evicted };
  }

  /** Writes delivery status changes in one script call; statuses of alerts not stored are ignored. */
  async setStatuses(changes: readonly StatusChange[]): Promise<number> {
    if (changes.length === 0) return 0;
    const argv = [this.key];
    for (const c of changes) {
      const status = c.status.lastError ? { ...c.status, lastError: c.status.lastError.slice(0, MAX_STATUS_ERROR) } : c.status;
      argv.push(c.id, c.output, JSON.stringify(status), c.onlyOverPending ? '1' : '0');
    }
    return this.redis.falconetUiStatus(`${this.key}:idx`, ...argv);
  }

  /** Raw records (header stripped) by id; undefined where evicted. */
  async records(ids: readonly string[]): Promise<Array<{ json: string; outputs: string[] } | undefined>> {
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(`${this.key}:rec`, ...ids);
    return values.map((v) => {
      if (v === null) return undefined;
      const nl = v.indexOf('\n');
      const header = v.slice(0, nl);
      const outputs = header.slice(header.indexOf('\x1e') + 1);
      return { json: v.slice(nl + 1), outputs: outputs === '' ? [] : outputs.split('\x1f') };
    });
  }

  async deliveries(id: string, outputs: readonly string[]): Promise<Record<string, DeliveryStatus>> {
    if (outputs.length === 0) return {};
    const values = await this.redis.hmget(`${this.key}:del`, ...outputs.map((o) => `${id}\x1f${o}`));
    const out: Record<string, DeliveryStatus> = {};
    outputs.forEach((o, i) => {
      if (values[i]) out[o] = JSON.parse(values[i]!) as DeliveryStatus;
    });
    return out;
  }

  indexKey(field: IndexedField | 'all', value?: string): string {
    return field === 'all' ? `${this.key}:idx` : `${this.key}:ix:${indexSuffix(field, value!)}`;
  }

  /** Ids with their sequence, newest first, strictly below `before` and within [min, ...]. */
  async page(key: string, before: number, min: number, count: number): Promise<Array<{ id: string; seq: number }>> {
    const max = Number.isFinite(before) ? `(${before}` : '+inf';
    const flat = await this.redis.zrevrangebyscore(key, max, Number.isFinite(min) ? min : '-inf', 'WITHSCORES', 'LIMIT', 0, count);
    const out: Array<{ id: string; seq: number }> = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i]!, seq: Number(flat[i + 1]) });
    return out;
  }

  async count(key: string, min: number, max: number): Promise<number> {
    return this.redis.zcount(key, Number.isFinite(min) ? min : '-inf', Number.isFinite(max) ? max : '+inf');
  }

  /** Per-minute counter hashes of one scope ('*' or a tenant) for the minutes given. */
  async minuteCounters(scope: string, minutes: readonly number[]): Promise<Array<Record<string, string>>> {
    const pipe = this.redis.pipeline();
    for (const m of minutes) pipe.hgetall(`${this.key}:m:${scope}:${m}`);
    const results = (await pipe.exec()) ?? [];
    return results.map(([err, v]) => (err ? {} : (v as Record<string, string>)));
  }

  async size(): Promise<{ alerts: number; bytes: number }> {
    const [alerts, bytes] = await Promise.all([this.redis.zcard(`${this.key}:idx`), this.redis.get(`${this.key}:bytes`)]);
    return { alerts, bytes: Number(bytes ?? 0) };
  }
}

/** Separators of the record header may not appear inside a value. */
function clean(value: string): string {
  return value.replace(/[\x1e\x1f\n]/g, ' ');
}

function indexSuffix(field: IndexedField, value: string): string {
  return `${field}:${clean(value)}`;
}

export function indexValues(alert: Alert): Record<IndexedField, string[]> {
  const ns = alertNamespace(alert);
  const tenant = alert.output_fields[TENANT_FIELD];
  return {
    priority: [alert.priority],
    rule: [alert.rule],
    source: [alert.source],
    hostname: alert.hostname ? [alert.hostname] : [],
    namespace: ns ? [ns] : [],
    tenant: typeof tenant === 'string' && tenant !== '' ? [tenant] : [],
    tag: [...new Set(alert.tags.filter((t) => typeof t === 'string' && t !== ''))],
  };
}

function summaryOf(alert: Alert, values: Record<IndexedField, string[]>) {
  return {
    id: alert.id,
    time: alert.time,
    priority: alert.priority,
    rule: alert.rule,
    source: alert.source,
    hostname: alert.hostname,
    namespace: values.namespace[0],
    tenant: values.tenant[0],
    tags: alert.tags,
    output: alert.output?.slice(0, SUMMARY_OUTPUT_CHARS),
  };
}
