import { describe, expect, it } from 'vitest';
import { REDIS_URL, testConfig } from '../helpers/harness.js';
import { ingestEntries } from '../helpers/ingest-log.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const rig = useRig();

describe('ingest entries are bounded by alerts, not requests (issue #10)', () => {
  it('one NDJSON request of 50,000 alerts makes >= 50 ingest log entries of <= 1,000 alerts, all acknowledged by one 200', async () => {
    const config = testConfig({ listen: { maxBodySize: '64MiB' }, outputs: { sink: { type: 'stdout' } }, routes: [{ outputs: ['sink'] }] });
    const pipeline = await rig.pipeline(config, { worker: false });
    const lines: string[] = [];
    for (let i = 0; i < 50_000; i++) {
      lines.push(JSON.stringify({
        rule: 'Terminal shell in container', priority: 'Notice', hostname: 'node-1', source: 'syscall',
        time: `2025-06-12T08:00:00.${String(i).padStart(9, '0')}Z`,
        output: `08:00:00.${i}: Notice A shell was spawned in a container (evt ${i})`,
        output_fields: { 'container.id': 'c1', 'proc.cmdline': 'bash', 'evt.time': 1749715200000000000 + i },
      }));
    }
    const res = await pipeline.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' });
    expect(res.status).toBe(200);

    const entries = await waitFor(async () => {
      const all = await ingestEntries(REDIS_URL, config.redis.prefix);
      return all.reduce((n, e) => n + e.alerts.length, 0) === 50_000 ? all : undefined;
    }, { what: '50,000 alerts in the ingest log' });
    const sizes = entries.map((e) => e.alerts.length);
    expect(entries.length).toBeGreaterThanOrEqual(50);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1000);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(50_000);
    expect(new Set(entries.flatMap((e) => e.alerts.map(([id]) => id))).size).toBe(50_000);
  }, 60_000);
});
