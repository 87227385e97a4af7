import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../../outputs/kit/errors.js';
import type { Outcome } from '../../../src/delivery/stages/classify.js';
import { createRecordStage } from '../../../src/delivery/stages/record.js';
import { createMetrics } from '../../../src/observability/metrics.js';

async function counters(metrics: ReturnType<typeof createMetrics>) {
  const values = (await metrics.deliveries.get()).values;
  const delivered = Object.fromEntries(values.map((v) => [v.labels.status, v.value]));
  const failures = Object.fromEntries(values.filter((v) => v.labels.status !== 'ok').map((v) => [`${v.labels.status}:${v.labels.reason}`, v.value]));
  const timed = (await metrics.deliverySeconds.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  return { delivered, failures, timed };
}

function setup() {
  const metrics = createMetrics();
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c))), cb()) }));
  return { metrics, lines, record: createRecordStage(metrics, logger, 'es') };
}

const dead = (kind: 'rejected' | 'failed', n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `d${kind}${i}`, rule: 'R', text: '{}', reason: 'why', kind }));
const base = { firstAttemptAt: 0, sends: 1, seconds: 0.02 };

describe('record stage', () => {
  it('a partial delivery counts each alert once under one status, and times the send once', async () => {
    const { metrics, record } = setup();
    const error = new DeliveryError('1 of 6 alerts must be retried', { retryable: true, reason: 'rejected_item' });
    const outcome: Outcome = { ...base, sent: 6, delivered: 3, dead: dead('rejected', 2), retry: { texts: ['{}'], error }, failure: { reason: 'rejected_item', message: error.message } };
    record(outcome, 'j1');
    expect(await counters(metrics)).toEqual({ delivered: { ok: 3, rejected: 2, retry: 1 }, failures: { 'rejected:rejected_item': 2, 'retry:rejected_item': 1 }, timed: 1 });
  });

  it('a job given up counts its alerts as failed once, with one error log line', async () => {
    const { metrics, record, lines } = setup();
    record({ ...base, sent: 2, delivered: 0, dead: dead('failed', 2), gaveUp: 'retry.maxDuration', failure: { reason: 'rate_limited', status: 429, message: 'HTTP 429' } }, 'j2');
    expect(await counters(metrics)).toEqual({ delivered: { failed: 2 }, failures: { 'failed:rate_limited': 2 }, timed: 1 });
    expect(lines.filter((l) => l.level === 50)).toHaveLength(1);
    expect(lines[0]).toMatchObject({ gaveUp: 'retry.maxDuration', failed: 2, status: 429 });
  });

  it('a success logs nothing and counts ok only', async () => {
    const { metrics, record, lines } = setup();
    record({ ...base, sent: 1, delivered: 1, dead: [] }, 'j3');
    expect(await counters(metrics)).toEqual({ delivered: { ok: 1 }, failures: {}, timed: 1 });
    expect(lines).toHaveLength(0);
  });
});
