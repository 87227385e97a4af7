import { Cluster } from 'ioredis';
import type { RedisClient as Redis } from '../queue/connection.js';
import { alertNamespace, type Alert } from '../alert/alert.js';
import { alertJson } from '../alert/json.js';
import { TENANT_FIELD } from '../auth/authenticator.js';
import { ADD_SCRIPT, COUNT_SCRIPT, INDEX_EXPIRY_RENEW_MS, MAX_ALERTS_PER_CALL, PAGE_SCRIPT, POSITION_BASE, POSITION_ZERO, STATUS_SCRIPT } from './scripts.js';

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
  falconetUiPage(key: string, before: string, min: string, count: number): Promise<string[]>;
  falconetUiCount(key: string, min: string, max: string): Promise<number>;
};

const MAX_STATUS_ERROR = 500;

/**
 * The web UI's event store, in the same Redis as the queues (src/ui/scripts.ts has the layout).
 * Bounded by count, bytes and age, whichever bites first: every write evicts the oldest alerts
 * beyond a bound, within the same script call.
 */
export class AlertStore {
  readonly key: string;
  private readonly legacyKey: string;
  private readonly redis: StoreRedis;
  /** Index key suffix → when this process last renewed its expiry (performance.now()). */
  private readonly renewedAt = new Map<string, number>();
  private legacyRemoval?: Promise<void>;

  constructor(
    redis: Redis,
    prefix: string,
    readonly retention: Retention,
  ) {
    // ui2: the layout with list indexes. The earlier one (sorted sets, under `<prefix>:ui`) is
    // not converted but removed (removeLegacyStore): converting a full store held Redis for
    // seconds, and workers of the earlier release still writing it in a rolling upgrade would
    // have left records no index names.
    this.key = `${prefix}:ui2`;
    this.legacyKey = `${prefix}:ui`;
    if (!('falconetUiAdd' in redis)) {
      // One declared key (the script reads the others from ARGV; with Cluster the prefix is
      // hash-tagged, so every store key is in that key's slot): a Cluster client routes by it.
      redis.defineCommand('falconetUiAdd', { numberOfKeys: 1, lua: ADD_SCRIPT });
      redis.defineCommand('falconetUiStatus', { numberOfKeys: 1, lua: STATUS_SCRIPT });
      redis.defineCommand('falconetUiPage', { numberOfKeys: 1, lua: PAGE_SCRIPT });
      redis.defineCommand('falconetUiCount', { numberOfKeys: 1, lua: COUNT_SCRIPT });
    }
    this.redis = redis as StoreRedis;
  }

  get events(): string {
    return `${this.key}:events`;
  }

  /** Stores a batch of alerts in one script call; an alert already stored (same id) is left as it is. */
  async add(items: readonly StoreInput[]): Promise<{ stored: number; evicted: number }> {
    if (items.length === 0) return { stored: 0, evicted: 0 };
    this.legacyRemoval ??= removeLegacyStore(this.redis, this.legacyKey).catch(() => {
      this.legacyRemoval = undefined;
    });
    let stored = 0;
    let evicted = 0;
    for (let i = 0; i < items.length; i += MAX_ALERTS_PER_CALL) {
      const [s, e] = await this.redis.falconetUiAdd(`${this.key}:idx`, ...this.addArgs(items.slice(i, i + MAX_ALERTS_PER_CALL)));
      stored += s;
      evicted += e;
    }
    return { stored, evicted };
  }

  /** ADD_SCRIPT's arguments: the records, then the batch grouped by index key (tenant keys first). */
  private addArgs(items: readonly StoreInput[]): Array<string | number> {
    const { maxAlerts, maxBytes, maxAge } = this.retention;
    const ttl = Math.ceil(maxAge / 1000) + 3600;
    const argv: Array<string | number> = [this.key, maxAlerts, maxBytes, maxAge * 1000, ttl, '', items.length];
    const tenants = new Map<string, string>();
    const others = new Map<string, string>();
    items.forEach(({ alert, outputs }, position) => {
      const at = String.fromCharCode(POSITION_ZERO + Math.floor(position / POSITION_BASE), POSITION_ZERO + (position % POSITION_BASE));
      const values = indexValues(alert);
      // Each list once per alert: values that differ only in separators clean to the same key.
      const keys = new Set<string>();
      for (const field of INDEXED) {
        const groups = field === 'tenant' ? tenants : others;
        for (const v of values[field]) {
          const key = indexSuffix(field, v);
          if (keys.has(key)) continue;
          keys.add(key);
          groups.set(key, (groups.get(key) ?? '') + at);
        }
      }
      // The record as stored: the header names its index lists and outputs (for eviction and reads).
      argv.push(alert.id, `${[...keys].join('\x1f')}\x1e${outputs.map(clean).join('\x1f')}\n${alertJson(alert)}`, outputs.length);
    });
    const now = performance.now();
    if (this.renewedAt.size > 100_000) this.renewedAt.clear();
    const renew: string[] = [];
    for (const groups of [tenants, others]) {
      for (const [key, positions] of groups) {
        argv.push(key, positions);
        if (now - (this.renewedAt.get(key) ?? -Infinity) < INDEX_EXPIRY_RENEW_MS) continue;
        this.renewedAt.set(key, now);
        renew.push(key);
      }
    }
    argv[5] = renew.join('\x1f');
    return argv;
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

  /** Per routed output: its last status, or pending when none was written yet. */
  async deliveries(id: string, outputs: readonly string[]): Promise<Record<string, DeliveryStatus>> {
    if (outputs.length === 0) return {};
    const values = await this.redis.hmget(`${this.key}:del`, ...outputs.map((o) => `${id}\x1f${o}`));
    const out: Record<string, DeliveryStatus> = {};
    outputs.forEach((o, i) => {
      out[o] = values[i] ? (JSON.parse(values[i]!) as DeliveryStatus) : { status: 'pending', attempts: 0 };
    });
    return out;
  }

  indexKey(field: IndexedField | 'all', value?: string): string {
    return field === 'all' ? `${this.key}:idx` : `${this.key}:ix:${indexSuffix(field, value!)}`;
  }

  /** Ids with their sequence, newest first, strictly below `before` and within [min, ...]. */
  async page(key: string, before: number, min: number, count: number): Promise<Array<{ id: string; seq: number }>> {
    const flat = await this.redis.falconetUiPage(key, bound(before), bound(min), count);
    const out: Array<{ id: string; seq: number }> = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i]!, seq: Number(flat[i + 1]) });
    return out;
  }

  async count(key: string, min: number, max: number): Promise<number> {
    return this.redis.falconetUiCount(key, bound(min), bound(max));
  }

  /** Per-minute counter hashes of one scope ('*' or a tenant) for the minutes given. */
  async minuteCounters(scope: string, minutes: readonly number[]): Promise<Array<Record<string, string>>> {
    const pipe = this.redis.pipeline();
    for (const m of minutes) pipe.hgetall(`${this.key}:m:${scope}:${m}`);
    const results = (await pipe.exec()) ?? [];
    return results.map(([err, v]) => (err ? {} : (v as Record<string, string>)));
  }

  async size(): Promise<{ alerts: number; bytes: number }> {
    const [alerts, bytes] = await Promise.all([this.redis.llen(`${this.key}:idx`), this.redis.get(`${this.key}:bytes`)]);
    return { alerts, bytes: Number(bytes ?? 0) };
  }
}

/**
 * Deletes the store of the earlier layout (`<prefix>:ui`: sorted-set indexes) in small steps, so
 * Redis is never held: its hashes and indexes with UNLINK (freed in Redis's background thread),
 * the index keys found by SCAN. Sessions (`<prefix>:ui:session:*`) and chart counters (which
 * expire by themselves) are left. Runs once per process, on the first write.
 */
export async function removeLegacyStore(redis: Redis, legacy: string): Promise<void> {
  if ((await redis.exists(`${legacy}:idx`, `${legacy}:rec`)) === 0) return;
  await redis.unlink(`${legacy}:idx`, `${legacy}:rec`, `${legacy}:del`, `${legacy}:bytes`, `${legacy}:last`);
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${legacy}:ix:*`, 'COUNT', 500);
      cursor = next;
      // One key per call: in a Cluster, keys of one call must share a slot.
      for (const key of keys) await node.unlink(key);
    } while (cursor !== '0');
  }
}

/** A sequence bound for the page and count scripts: '' for none. */
function bound(seq: number): string {
  return Number.isFinite(seq) ? String(seq) : '';
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
