import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/alert/alert.js';
import { AlertStore } from '../../../src/ui/store.js';
import { SCAN_BOUND, queryAlerts } from '../../../src/ui/query.js';
import { statusesOf } from '../../../src/ui/record.js';
import { stringifyJson } from '../../../src/alert/json.js';
import { REDIS_URL, deletePrefix } from '../../helpers/harness.js';
import { uiMemory, fixtureAlert } from '../../helpers/ui.js';
import { TestRedis } from '../../helpers/redis-server.js';

const redis = new Redis(REDIS_URL);
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(p);
  redis.disconnect();
});

const DAY = 24 * 3600 * 1000;
function store(retention: Partial<AlertStore['retention']> = {}) {
  const prefix = `fnt-${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  return new AlertStore(redis, prefix, { maxAlerts: 100_000, maxBytes: 256 * 1024 * 1024, maxAge: 7 * DAY, ...retention });
}

/** The documented bound (README, "Web UI"): Redis memory of the store per stored alert, at most. */
export const DOCUMENTED_BYTES_PER_ALERT = 3200;

describe('UI event store (real Redis)', () => {
  it('50,000 alerts in with maxAlerts 10,000: holds 10,000 (the newest), Redis memory under the documented figure', async () => {
    const s = store({ maxAlerts: 10_000 });
    for (let batch = 0; batch < 50; batch++) {
      await s.add(Array.from({ length: 1000 }, (_, i) => ({ alert: fixtureAlert(batch * 1000 + i), outputs: ['slack', 'webhook'] })));
    }
    const size = await s.size();
    expect(size.alerts).toBe(10_000);
    const page = await queryAlerts(s, {}, 1, undefined);
    expect(page.total).toBe(10_000);
    expect(page.alerts[0]!.alert.output).toContain('#49999');
    const memory = await uiMemory(redis, s.key);
    console.log(`UI store: ${size.alerts} alerts, ${size.bytes} record bytes, Redis memory ${memory} bytes = ${Math.round(memory / size.alerts)} bytes/alert`);
    expect(memory).toBeLessThan(10_000 * DOCUMENTED_BYTES_PER_ALERT);
    // maxBytes is checked against the store's estimate: it must track what Redis really holds.
    expect(memory).toBeLessThan(size.bytes * 1.15);
    expect(memory).toBeGreaterThan(size.bytes * 0.85);
    // The per-value indexes shrank with the store: nothing left pointing at evicted alerts.
    const rule = await redis.zcard(s.indexKey('rule', fixtureAlert(0).rule));
    const delivered = await redis.hlen(`${s.key}:del`);
    expect(rule).toBeLessThanOrEqual(10_000);
    expect(delivered).toBe(20_000);
  }, 120_000);

  it('a query examines at most limit + SCAN_BOUND candidates per page, then returns a cursor to go on', async () => {
    const s = store();
    const total = SCAN_BOUND * 2 + 500;
    const needle = fixtureAlert(0);
    needle.output = 'the only match: needle-Ω42';
    await s.add([{ alert: needle, outputs: [] }]);
    for (let i = 1; i < total; i += 1000) await s.add(Array.from({ length: Math.min(1000, total - i) }, (_, j) => ({ alert: fixtureAlert(i + j), outputs: [] })));
    const examined: number[] = [];
    const records = s.records.bind(s);
    s.records = async (ids) => (examined.push(ids.length), records(ids));
    let cursor: number | undefined;
    let pages = 0;
    let found: string[] = [];
    do {
      examined.length = 0;
      const page = await queryAlerts(s, { q: 'needle-Ω42' }, 10, cursor);
      expect(examined.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(10 + SCAN_BOUND);
      found = found.concat(page.alerts.map((a) => a.alert.output!));
      cursor = page.next === null ? undefined : Number(page.next);
      pages++;
    } while (cursor !== undefined);
    expect(found).toEqual(['the only match: needle-Ω42']);
    expect(pages).toBe(3);
  }, 60_000);

  it('bounded by bytes and by age, whichever bites first', async () => {
    const byBytes = store({ maxBytes: 200_000 });
    await byBytes.add(Array.from({ length: 300 }, (_, i) => ({ alert: fixtureAlert(i), outputs: [] })));
    const sized = await byBytes.size();
    expect(sized.bytes).toBeLessThanOrEqual(200_000);
    expect(sized.bytes).toBeGreaterThan(190_000);
    expect(sized.alerts).toBeLessThan(300);
    expect(await uiMemory(redis, byBytes.key)).toBeLessThan(200_000 * 1.15);

    const byAge = store({ maxAge: 1 });
    await byAge.add([{ alert: fixtureAlert(1), outputs: [] }]);
    await new Promise((r) => setTimeout(r, 5)); // age passes; the next write evicts
    await byAge.add([{ alert: fixtureAlert(2), outputs: [] }]);
    expect((await byAge.size()).alerts).toBeLessThanOrEqual(1);
  });

  it('an alert stored twice (a retried ingest job, a duplicate POST) is stored once and keeps its delivery status', async () => {
    const s = store();
    const a = fixtureAlert(7);
    expect((await s.add([{ alert: a, outputs: ['slack'] }])).stored).toBe(1);
    await s.setStatuses([{ id: a.id, output: 'slack', status: { status: 'delivered', attempts: 1, deliveredAt: 1 } }]);
    expect((await s.add([{ alert: a, outputs: ['slack'] }])).stored).toBe(0);
    expect(await s.deliveries(a.id, ['slack'])).toEqual({ slack: { status: 'delivered', attempts: 1, deliveredAt: 1 } });
    expect((await s.size()).alerts).toBe(1);
    // A status for an alert the store does not hold (a digest) writes nothing.
    expect(await s.setStatuses([{ id: 'digest-1', output: 'slack', status: { status: 'delivered', attempts: 1 } }])).toBe(0);
  });

  it('statuses from one send: delivered, retrying with the error, dead-lettered with the reason', () => {
    const [a, b, c] = [fixtureAlert(1), fixtureAlert(2), fixtureAlert(3)].map((x) => stringifyJson(x));
    const ids = [fixtureAlert(1).id, fixtureAlert(2).id, fixtureAlert(3).id];
    const changes = statusesOf('es', [a!, b!, c!], {
      sent: 3, delivered: 1, sends: 2, seconds: 0.1, firstAttemptAt: 0, gaveUp: undefined,
      dead: [{ id: ids[2]!, rule: 'r', text: c!, reason: 'HTTP 400 mapper_parsing_exception', kind: 'rejected' }],
      retry: { texts: [b!], error: Object.assign(new Error('HTTP 503'), {}) as never },
    } as never, 42);
    expect(changes).toEqual([
      { id: ids[2], output: 'es', status: { status: 'dead_lettered', attempts: 2, lastError: 'HTTP 400 mapper_parsing_exception' } },
      { id: ids[1], output: 'es', status: { status: 'retrying', attempts: 2, lastError: 'HTTP 503' } },
      { id: ids[0], output: 'es', status: { status: 'delivered', attempts: 2, deliveredAt: 42 } },
    ]);
  });

  it('survives a Redis restart with AOF: alerts, delivery status, indexes and the sequence (own redis-server)', async () => {
    const server = await new TestRedis({ aof: true }).start();
    try {
      let conn = new Redis(server.url);
      let s = new AlertStore(conn, 'fnt-aof', { maxAlerts: 1000, maxBytes: 1e9, maxAge: DAY });
      const alerts = [fixtureAlert(1), fixtureAlert(2), fixtureAlert(3)];
      await s.add(alerts.map((alert) => ({ alert, outputs: ['es'] })));
      await s.setStatuses([{ id: alerts[0]!.id, output: 'es', status: { status: 'delivered', attempts: 1, deliveredAt: 5 } }]);
      const before = await queryAlerts(s, { rule: [alerts[0]!.rule] }, 10);
      conn.disconnect();
      await server.stop();
      await server.start();
      conn = new Redis(server.url);
      s = new AlertStore(conn, 'fnt-aof', { maxAlerts: 1000, maxBytes: 1e9, maxAge: DAY });
      const after = await queryAlerts(s, { rule: [alerts[0]!.rule] }, 10);
      expect(after.alerts.map((a) => a.seq)).toEqual(before.alerts.map((a) => a.seq));
      expect(after.total).toBe(before.total);
      expect(await s.deliveries(alerts[0]!.id, ['es'])).toEqual({ es: { status: 'delivered', attempts: 1, deliveredAt: 5 } });
      // New alerts continue the sequence after the restart: paging stays ordered.
      await s.add([{ alert: fixtureAlert(4), outputs: [] }]);
      const all = await queryAlerts(s, {}, 10);
      expect(all.alerts[0]!.alert.output).toContain('#4');
      expect(all.alerts[0]!.seq).toBeGreaterThan(Math.max(...before.alerts.map((a) => a.seq)));
      conn.disconnect();
    } finally {
      await server.destroy();
    }
  }, 60_000);
});

