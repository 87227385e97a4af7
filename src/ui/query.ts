import { PRIORITIES, parsePriority, type Priority } from '../alert/priority.js';
import type { NamespaceList } from '../auth/identity.js';
import { indexValues, type AlertStore, type IndexedField } from './store.js';
import type { Alert } from '../alert/alert.js';

/** What a query may ask for; every field is optional. Equality filters accept several values (any of). */
export interface AlertFilter {
  priority?: Priority[];
  rule?: string[];
  source?: string[];
  hostname?: string[];
  namespace?: string[];
  tenant?: string[];
  tag?: string[];
  /** Free text over rule and output, case-insensitive, matched as a plain substring (no syntax). */
  q?: string;
  /** Storage time bounds, ms since the epoch. */
  since?: number;
  until?: number;
  /** Alerts outside these namespaces are invisible (a tenant identity with `namespaces`). */
  namespaces?: NamespaceList;
}

export interface AlertPage {
  /** Raw alert JSON texts (big integers intact) with their sequence. */
  alerts: Array<{ seq: number; json: string; alert: Alert; outputs: string[] }>;
  /** Pass as `cursor` for the next (older) page; null when there is none. */
  next: string | null;
  total: number;
  /** false when other filters than the one walked apply: `total` is then an upper bound. */
  totalExact: boolean;
}

/** Extra candidates one page may examine beyond `limit` before it returns what it has with a cursor. */
export const SCAN_BOUND = 2000;
const CHUNK = 200;

export class FilterError extends Error {}

/** "warning", ">=warning", "Warning,Error": the priorities the filter accepts. */
export function parsePriorityFilter(raw: string): Priority[] {
  const at = raw.startsWith('>=') ? raw.slice(2) : undefined;
  if (at !== undefined) {
    const p = parsePriority(at);
    if (!p) throw new FilterError(`"priority" ${raw}: unknown priority "${at}" (one of ${PRIORITIES.join(', ')})`);
    return PRIORITIES.slice(0, PRIORITIES.indexOf(p) + 1);
  }
  return raw.split(',').map((name) => {
    const p = parsePriority(name.trim());
    if (!p) throw new FilterError(`"priority": unknown priority "${name}" (one of ${PRIORITIES.join(', ')}, or >=warning)`);
    return p;
  });
}

/**
 * Newest first, walking the smallest index that applies (merged over its values) and checking the
 * other filters on each record. A page examines at most `limit + SCAN_BOUND` candidates: when the
 * bound is reached first it returns what matched so far with a cursor to go on from there.
 * Sequences only grow, so alerts stored while a client pages never appear on its later pages and
 * none already there is skipped.
 */
export async function queryAlerts(store: AlertStore, filter: AlertFilter, limit: number, cursor?: number): Promise<AlertPage> {
  const min = filter.since === undefined ? Number.NEGATIVE_INFINITY : filter.since * 1000;
  // The age bound holds for reads too, between two writes that would have evicted.
  const ageFloor = (Date.now() - store.retention.maxAge) * 1000;
  const lower = Math.max(min, ageFloor);
  const upperExclusive = filter.until === undefined ? Number.POSITIVE_INFINITY : filter.until * 1000 + 1;
  const start = Math.min(cursor ?? Number.POSITIVE_INFINITY, upperExclusive);

  const driver = await chooseDriver(store, filter, lower, upperExclusive - 1);
  const streams = driver.keys.map((key) => new IndexStream(store, key, start, lower));
  const out: AlertPage['alerts'] = [];
  let examined = 0;
  let last: number | undefined;
  let exhausted = false;
  while (out.length < limit && examined < limit + SCAN_BOUND) {
    const batch = await nextCandidates(streams, Math.min(CHUNK, limit + SCAN_BOUND - examined));
    if (batch.length === 0) {
      exhausted = true;
      break;
    }
    const records = await store.records(batch.map((c) => c.id));
    for (let i = 0; i < batch.length; i++) {
      examined++;
      last = batch[i]!.seq;
      const rec = records[i];
      if (!rec) continue;
      const alert = JSON.parse(rec.json) as Alert;
      if (!matches(alert, filter, driver.field)) continue;
      out.push({ seq: batch[i]!.seq, json: rec.json, alert, outputs: rec.outputs });
      if (out.length >= limit) {
        // Candidates fetched past the last one returned are fetched again by the next page.
        break;
      }
    }
  }
  if (!exhausted && out.length >= limit) last = out[out.length - 1]!.seq;
  const more = !exhausted && last !== undefined && (await hasMore(streams, last, store, driver.keys, lower));
  return { alerts: out, next: more ? String(last) : null, total: driver.total, totalExact: driver.exact && !filter.q && !filter.namespaces };
}

async function hasMore(_streams: IndexStream[], last: number, store: AlertStore, keys: string[], lower: number): Promise<boolean> {
  for (const key of keys) if ((await store.page(key, last, lower, 1)).length > 0) return true;
  return false;
}

async function chooseDriver(store: AlertStore, filter: AlertFilter, min: number, max: number) {
  const candidates: Array<{ field: IndexedField | 'all'; keys: string[]; total: number }> = [];
  for (const field of ['priority', 'rule', 'source', 'hostname', 'namespace', 'tenant', 'tag'] as const) {
    const values = filter[field];
    if (!values || values.length === 0) continue;
    const keys = values.map((v) => store.indexKey(field, v));
    const counts = await Promise.all(keys.map((k) => store.count(k, min, max)));
    candidates.push({ field, keys, total: counts.reduce((a, b) => a + b, 0) });
  }
  const filters = candidates.length;
  if (filters === 0) {
    const key = store.indexKey('all');
    candidates.push({ field: 'all', keys: [key], total: await store.count(key, min, max) });
  }
  candidates.sort((a, b) => a.total - b.total);
  const best = candidates[0]!;
  // Tags are a list per alert: one alert under two tag values would be counted twice.
  return { ...best, exact: filters <= 1 && !(best.field === 'tag' && best.keys.length > 1) };
}

/** One index walked newest first in chunks. */
class IndexStream {
  private buffer: Array<{ id: string; seq: number }> = [];
  private done = false;

  constructor(
    private readonly store: AlertStore,
    private readonly key: string,
    private before: number,
    private readonly min: number,
  ) {}

  async peek(): Promise<{ id: string; seq: number } | undefined> {
    if (this.buffer.length === 0 && !this.done) {
      this.buffer = await this.store.page(this.key, this.before, this.min, CHUNK);
      if (this.buffer.length < CHUNK) this.done = true;
      if (this.buffer.length > 0) this.before = this.buffer[this.buffer.length - 1]!.seq;
    }
    return this.buffer[0];
  }

  shift(): void {
    this.buffer.shift();
  }
}

/** Merges the streams (one per value of the driving filter) newest first; an id in two (tags) once. */
async function nextCandidates(streams: IndexStream[], count: number): Promise<Array<{ id: string; seq: number }>> {
  const out: Array<{ id: string; seq: number }> = [];
  while (out.length < count) {
    let best: { s: IndexStream; c: { id: string; seq: number } } | undefined;
    for (const s of streams) {
      const c = await s.peek();
      if (c && (!best || c.seq > best.c.seq)) best = { s, c };
    }
    if (!best) break;
    for (const s of streams) {
      const c = await s.peek();
      if (c && c.seq === best.c.seq) s.shift();
    }
    out.push(best.c);
  }
  return out;
}

function matches(alert: Alert, f: AlertFilter, driver: IndexedField | 'all'): boolean {
  const values = indexValues(alert);
  for (const field of ['priority', 'rule', 'source', 'hostname', 'namespace', 'tenant', 'tag'] as const) {
    if (field === driver) continue;
    const wanted = f[field] as string[] | undefined;
    if (wanted && wanted.length > 0 && !values[field].some((v) => wanted.includes(v))) return false;
  }
  if (f.namespaces) {
    const ns = values.namespace[0];
    if (ns === undefined || !f.namespaces.allows(ns)) return false;
  }
  if (f.q) {
    const needle = f.q.toLowerCase();
    if (!alert.rule.toLowerCase().includes(needle) && !(alert.output ?? '').toLowerCase().includes(needle)) return false;
  }
  return true;
}
