import { PRIORITIES } from '../alert/priority.js';
import type { AlertStore } from './store.js';

const MINUTE = 60_000;
/** Buckets of the "over time" series, at most: the step grows with the range. */
const MAX_BUCKETS = 120;
const TOP = 10;

export interface Stats {
  since: number;
  until: number;
  stepMs: number;
  total: number;
  /** One entry per bucket: its start (ms) and counts by priority. */
  overTime: Array<{ t: number; counts: Record<string, number> }>;
  byPriority: Record<string, number>;
  topRules: Array<{ name: string; count: number }>;
  bySource: Array<{ name: string; count: number }>;
  byNamespace: Array<{ name: string; count: number }>;
}

/**
 * Counts from the per-minute counters (one hash per minute and scope): the work is bounded by the
 * range in minutes (at most retention.maxAge), never by the number of alerts.
 */
export async function readStats(store: AlertStore, scope: string, since: number, until: number): Promise<Stats> {
  const floor = Date.now() - store.retention.maxAge;
  const from = Math.floor(Math.max(since, floor) / MINUTE);
  const to = Math.floor(until / MINUTE);
  const minutes: number[] = [];
  for (let m = from; m <= to; m++) minutes.push(m);
  const span = Math.max(1, minutes.length);
  const stepMinutes = Math.max(1, Math.ceil(span / MAX_BUCKETS));
  const counters = await store.minuteCounters(scope, minutes);

  const byPriority: Record<string, number> = {};
  const rules = new Map<string, number>();
  const sources = new Map<string, number>();
  const namespaces = new Map<string, number>();
  const buckets = new Map<number, Record<string, number>>();
  let total = 0;
  minutes.forEach((m, i) => {
    const bucketStart = (from + Math.floor((m - from) / stepMinutes) * stepMinutes) * MINUTE;
    let bucket = buckets.get(bucketStart);
    if (!bucket) buckets.set(bucketStart, (bucket = {}));
    for (const [field, raw] of Object.entries(counters[i] ?? {})) {
      const n = Number(raw);
      const kind = field.slice(0, 2);
      const name = field.slice(2);
      if (kind === 'p:') {
        total += n;
        byPriority[name] = (byPriority[name] ?? 0) + n;
        bucket[name] = (bucket[name] ?? 0) + n;
      } else if (kind === 'r:') rules.set(name, (rules.get(name) ?? 0) + n);
      else if (kind === 's:') sources.set(name, (sources.get(name) ?? 0) + n);
      else if (kind === 'n:') namespaces.set(name, (namespaces.get(name) ?? 0) + n);
    }
  });
  const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, TOP).map(([name, count]) => ({ name, count }));
  const ordered: Record<string, number> = {};
  for (const p of PRIORITIES) if (byPriority[p]) ordered[p] = byPriority[p]!;
  return {
    since: from * MINUTE,
    until: (to + 1) * MINUTE,
    stepMs: stepMinutes * MINUTE,
    total,
    overTime: [...buckets].map(([t, counts]) => ({ t, counts })),
    byPriority: ordered,
    topRules: top(rules),
    bySource: top(sources),
    byNamespace: top(namespaces),
  };
}
