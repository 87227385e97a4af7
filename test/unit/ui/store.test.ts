import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/alert/alert.js';
import { readFileSync } from 'node:fs';
import { AlertStore, INDEXED, indexValues } from '../../../src/ui/store.js';
import { SCAN_BOUND, queryAlerts } from '../../../src/ui/query.js';
import { statusesOf } from '../../../src/ui/record.js';
import { readStats } from '../../../src/ui/stats.js';
import { TENANT_FIELD } from '../../../src/auth/authenticator.js';
import { stringifyJson } from '../../../src/alert/json.js';
import { REDIS_URL, deletePrefix } from '../../helpers/harness.js';
import { uiMemory, fixtureAlert } from '../../helpers/ui.js';
import { TestRedis } from '../../helpers/redis-server.js';
import { waitFor } from '../../helpers/wait.js';

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
export const DOCUMENTED_BYTES_PER_ALERT = 2500;

describe('UI event store (real Redis)', () => {
  it('50,000 alerts in with maxAlerts 10,000: holds the newest 9,900–10,000 (1% slack), Redis memory under the documented figure', async () => {
    const s = store({ maxAlerts: 10_000 });
    for (let batch = 0; batch < 50; batch++) {
      await s.add(Array.from({ length: 1000 }, (_, i) => ({ alert: fixtureAlert(batch * 1000 + i), outputs: ['slack', 'webhook'] })));
    }
    // Delivery statuses of the survivors, as the delivery workers write them (the estimate counts them from the start).
    const kept = await queryAlerts(s, {}, 1000, undefined);
    expect(kept.alerts).toHaveLength(1000);
    const held = (await s.size()).alerts;
    expect(held).toBeGreaterThanOrEqual(9_900);
    expect(held).toBeLessThanOrEqual(10_000);
    const survivors = Array.from({ length: held }, (_, i) => fixtureAlert(50_000 - held + i));
    for (let i = 0; i < survivors.length; i += 1000) {
      await s.setStatuses(survivors.slice(i, i + 1000).flatMap((a) => ['slack', 'webhook'].map((output) => ({ id: a.id, output, status: { status: 'delivered' as const, attempts: 1, deliveredAt: Date.now() } }))));
    }
    const size = await s.size();
    const page = await queryAlerts(s, {}, 1, undefined);
    expect(page.total).toBe(held);
    expect(page.alerts[0]!.alert.output).toContain('#49999');
    const memory = await uiMemory(redis, s.key);
    console.log(`UI store: ${size.alerts} alerts, ${size.bytes} record bytes, Redis memory ${memory} bytes = ${Math.round(memory / size.alerts)} bytes/alert`);
    expect(memory).toBeLessThan(held * DOCUMENTED_BYTES_PER_ALERT);
    // maxBytes is checked against the store's estimate: it must track what Redis really holds.
    expect(memory).toBeLessThan(size.bytes * 1.15);
    expect(memory).toBeGreaterThan(size.bytes * 0.85);
    // The per-value indexes shrank with the store: nothing left pointing at evicted alerts.
    const rule = fixtureAlert(0).rule;
    const inIndex = await redis.llen(s.indexKey('rule', rule));
    const survivorsOfRule = survivors.filter((a) => a.rule === rule).length;
    expect(inIndex).toBe(survivorsOfRule);
    expect((await queryAlerts(s, { rule: [rule] }, 1, undefined)).total).toBe(survivorsOfRule);
    expect(await redis.hlen(`${s.key}:del`)).toBe(2 * held);
    // Evicting drops an alert's statuses with it.
    await s.add(Array.from({ length: 1000 }, (_, i) => ({ alert: fixtureAlert(50_000 + i), outputs: ['slack', 'webhook'] })));
    const evicted = held + 1000 - (await s.size()).alerts;
    expect(evicted).toBeGreaterThan(900);
    expect(await redis.hlen(`${s.key}:del`)).toBe(2 * (held - evicted));
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

  it('one batch of several tenants: each alert in its own indexes, chart counters per tenant and in all', async () => {
    const s = store();
    const tenantOf = (i: number) => (i % 3 === 0 ? 'team-a' : i % 3 === 1 ? 'team-b' : undefined);
    const alerts = Array.from({ length: 90 }, (_, i) => {
      const a = fixtureAlert(i);
      const tenant = tenantOf(i);
      if (tenant) a.output_fields[TENANT_FIELD] = tenant;
      return a;
    });
    // A duplicate in the same batch is stored (and counted) once.
    await s.add([...alerts, alerts[0]!].map((alert) => ({ alert, outputs: ['slack'] })));
    const now = Date.now();
    const all = await readStats(s, '*', now - 60_000, now);
    const a = await readStats(s, 'team-a', now - 60_000, now);
    const b = await readStats(s, 'team-b', now - 60_000, now);
    expect([all.total, a.total, b.total]).toEqual([90, 30, 30]);
    const ruleOf = (list: Alert[]) => list.filter((x) => x.rule === alerts[0]!.rule).length;
    expect(a.topRules.find((r) => r.name === alerts[0]!.rule)?.count).toBe(ruleOf(alerts.filter((_, i) => tenantOf(i) === 'team-a')));
    expect(all.topRules.find((r) => r.name === alerts[0]!.rule)?.count).toBe(ruleOf(alerts));
    for (const tenant of ['team-a', 'team-b']) {
      const page = await queryAlerts(s, { tenant: [tenant] }, 100);
      expect(page.alerts.map((x) => x.alert.id)).toEqual(alerts.filter((_, i) => tenantOf(i) === tenant).map((x) => x.id).reverse());
    }
    const byRule = await queryAlerts(s, { rule: [alerts[1]!.rule] }, 100);
    expect(byRule.alerts.map((x) => x.alert.id)).toEqual(alerts.filter((x) => x.rule === alerts[1]!.rule).map((x) => x.id).reverse());
  });

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

  it('a store of the earlier layout (sorted-set indexes) is removed in the background on the first write; sessions stay', async () => {
    const prefix = `fnt-${randomUUID().slice(0, 8)}`;
    prefixes.push(prefix);
    const legacy = `${prefix}:ui`;
    const oldAdd = readFileSync(new URL('../../fixtures/ui-store-sorted-sets-add.lua', import.meta.url), 'utf8');
    const alerts = Array.from({ length: 300 }, (_, i) => fixtureAlert(i));
    for (let i = 0; i < alerts.length; i += 100) {
      const argv: Array<string | number> = [legacy, 100_000, 1e9, 7 * DAY * 1000, 7 * 24 * 3600, ''];
      for (const a of alerts.slice(i, i + 100)) {
        const v = indexValues(a);
        const ix = INDEXED.flatMap((f) => v[f].map((x) => `${f}:${x}`)).join('\x1f');
        argv.push(a.id, ix, 'slack', stringifyJson(a), JSON.stringify({ id: a.id }), `p:${a.priority}`, v.tenant[0] ?? '');
      }
      await redis.eval(oldAdd, 1, `${legacy}:idx`, ...argv);
    }
    await redis.set(`${legacy}:session:abc`, '{"user":"ops"}');
    const legacyKeys = async () => (await redis.keys(`${legacy}:*`)).filter((k) => !k.startsWith(`${legacy}:m:`) && !k.startsWith(`${legacy}:session:`));
    expect((await legacyKeys()).length).toBeGreaterThan(50);

    const s = new AlertStore(redis, prefix, { maxAlerts: 100_000, maxBytes: 1e9, maxAge: 7 * DAY });
    await s.add([{ alert: fixtureAlert(300), outputs: ['slack'] }]);
    await waitFor(async () => (await legacyKeys()).length === 0, { what: 'the earlier store removed' });
    expect(await redis.get(`${legacy}:session:abc`)).toBe('{"user":"ops"}');
    const page = await queryAlerts(s, {}, 10);
    expect(page.total).toBe(1);
    expect(page.alerts[0]!.alert.id).toBe(fixtureAlert(300).id);
  });

  it('the memory estimate holds with a value of its own per alert (a list each): maxBytes still bounds memory', async () => {
    const s = store();
    await s.add(Array.from({ length: 300 }, (_, i) => {
      const a = fixtureAlert(i);
      a.hostname = `node-${i}`;
      a.tags = Array.from({ length: 5 }, (_, t) => `t-${i}-${t}`);
      return { alert: a, outputs: ['slack'] };
    }));
    const { bytes } = await s.size();
    const memory = await uiMemory(redis, s.key);
    expect(memory).toBeLessThan(bytes * 1.15);
    expect(memory).toBeGreaterThan(bytes * 0.85);
    // Evicted, the lists go and so does their estimate.
    const small = store({ maxAlerts: 100 });
    await small.add(Array.from({ length: 300 }, (_, i) => ({ alert: Object.assign(fixtureAlert(i), { hostname: `node-${i}` }), outputs: [] })));
    const kept = await small.size();
    const keptMemory = await uiMemory(redis, small.key);
    expect(keptMemory).toBeLessThan(kept.bytes * 1.15);
    expect(keptMemory).toBeGreaterThan(kept.bytes * 0.85);
  });

  it('tags that differ only in separator characters index the alert once', async () => {
    const s = store();
    const a = fixtureAlert(1);
    a.tags = ['dup\n', 'dup\x1f', 'dup ', 'other'];
    await s.add([{ alert: a, outputs: [] }]);
    expect(await redis.llen(s.indexKey('tag', 'dup '))).toBe(1);
    const page = await queryAlerts(s, { tag: ['dup '] }, 10);
    expect(page.alerts.map((x) => x.alert.id)).toEqual([a.id]);
    expect(page.total).toBe(1);
  });

  it('past maxAge only the expired go, even with the count near its bound; over the count bound a run leaves 1% slack', async () => {
    const s = store({ maxAlerts: 1000, maxAge: 60_000 });
    for (let i = 0; i < 995; i += 200) await s.add(Array.from({ length: Math.min(200, 995 - i) }, (_, j) => ({ alert: fixtureAlert(i + j), outputs: [] })));
    // The oldest alert's sequence is pushed back past maxAge (sequences are µs of storage).
    const entry = (await redis.lindex(`${s.key}:idx`, 0))!;
    const aged = `${Number(entry.split(' ')[0]) - 120_000_000} ${entry.split(' ')[1]}`;
    await redis.lset(`${s.key}:idx`, 0, aged);
    for (const key of await redis.keys(`${s.key}:ix:*`)) if ((await redis.lindex(key, 0)) === entry) await redis.lset(key, 0, aged);
    const { evicted } = await s.add([{ alert: fixtureAlert(995), outputs: [] }]);
    expect(evicted).toBe(1);
    expect((await s.size()).alerts).toBe(995);
    const over = await s.add(Array.from({ length: 10 }, (_, j) => ({ alert: fixtureAlert(996 + j), outputs: [] })));
    expect((await s.size()).alerts).toBe(990);
    expect(over.evicted).toBe(15);
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

