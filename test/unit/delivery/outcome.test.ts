import { describe, expect, it } from 'vitest';
import { stringifyJson } from '../../../src/alert/json.js';
import { DeliveryError } from '../../../outputs/kit/errors.js';
import { classifyAttempt, type JobHistory } from '../../../src/delivery/stages/classify.js';
import type { SendAttempt } from '../../../src/delivery/stages/send.js';
import { makeAlert } from '../stages/make-alert.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const budget = { maxDuration: 60_000, maxRetryAfter: 5_000 };
const fresh: JobHistory = { attemptsMade: 0, attempts: 5, sends: 0 };

function attempt(n: number, outcome: Partial<SendAttempt>): SendAttempt {
  const alerts = Array.from({ length: n }, () => makeAlert());
  return { alerts, texts: alerts.map((a) => stringifyJson(a)), startedAt: NOW, seconds: 0.01, failed: false, ...outcome };
}
const http = (status: number, retryable: boolean, retryAfterMs?: number) =>
  new DeliveryError(`http://x answered HTTP ${status}: nope`, { retryable, status, reason: retryable ? 'server_error' : 'client_error', retryAfterMs });

describe('classify stage (the outcome of one send)', () => {
  it('all delivered', () => {
    const o = classifyAttempt(attempt(3, {}), fresh, budget, NOW);
    expect(o).toMatchObject({ sent: 3, delivered: 3, dead: [], sends: 1 });
    expect(o.retry).toBeUndefined();
  });

  it('per-item results: each alert in exactly one bucket', () => {
    const a = attempt(4, {});
    const [x, y, z] = a.alerts;
    a.result = { rejected: [{ alert: y!, reason: 'mapping error' }], retry: [z!] };
    const o = classifyAttempt(a, fresh, budget, NOW);
    expect(o.delivered).toBe(2);
    expect(o.dead).toEqual([{ id: y!.id, rule: y!.rule, text: a.texts[1], reason: 'mapping error', status: undefined, kind: 'rejected' }]);
    expect(o.retry?.texts).toEqual([a.texts[2]]);
    expect(o.failure?.reason).toBe('rejected_item');
    expect(x).toBeDefined();
  });

  it('a permanent error dead-letters every alert with the status and message', () => {
    const o = classifyAttempt(attempt(2, { failed: true, error: http(400, false) }), fresh, budget, NOW);
    expect(o.dead.map((d) => [d.kind, d.status, d.reason])).toEqual([
      ['failed', 400, 'http://x answered HTTP 400: nope'],
      ['failed', 400, 'http://x answered HTTP 400: nope'],
    ]);
    expect(o.gaveUp).toBe('permanent');
    expect(o.retry).toBeUndefined();
  });

  it('an unexpected (non-DeliveryError) throw is an invalid payload, not retried', () => {
    const o = classifyAttempt(attempt(1, { failed: true, error: new TypeError('boom') }), fresh, budget, NOW);
    expect(o.failure?.reason).toBe('invalid_payload');
    expect(o.dead[0]!.reason).toBe('output error: boom');
  });

  it('retryable: retried while attempts last, then dead with the reason naming retry.attempts', () => {
    const err = http(500, true);
    expect(classifyAttempt(attempt(1, { failed: true, error: err }), { ...fresh, attemptsMade: 3 }, budget, NOW).retry?.error).toBe(err);
    const last = classifyAttempt(attempt(1, { failed: true, error: err }), { ...fresh, attemptsMade: 4, sends: 4, firstAttemptAt: NOW - 3000 }, budget, NOW);
    expect(last.retry).toBeUndefined();
    expect(last.gaveUp).toBe('retry.attempts');
    expect(last.dead[0]!.reason).toBe('http://x answered HTTP 500: nope (gave up after 5 sends in 3 s: retry.attempts)');
  });

  it('retry.maxDuration ends retrying whatever the attempts left, counted from the first send', () => {
    const err = http(500, true);
    const o = classifyAttempt(attempt(1, { failed: true, error: err }), { attemptsMade: 1, attempts: 100, sends: 1, firstAttemptAt: NOW - 60_000 }, budget, NOW);
    expect(o.gaveUp).toBe('retry.maxDuration');
    expect(o.firstAttemptAt).toBe(NOW - 60_000);
  });

  it('Retry-After pauses without spending an attempt, capped by maxRetryAfter, and counts against maxDuration', () => {
    const limited = (ms: number) => http(429, true, ms);
    const spent = { attemptsMade: 4, attempts: 5, sends: 9, firstAttemptAt: NOW - 10_000 };
    expect(classifyAttempt(attempt(1, { failed: true, error: limited(2000) }), spent, budget, NOW).retry?.pauseMs).toBe(2000);
    expect(classifyAttempt(attempt(1, { failed: true, error: limited(3_600_000) }), spent, budget, NOW).retry?.pauseMs).toBe(5000);
    // 56 s spent + a 5 s pause would pass the 60 s budget: dead now rather than after the pause.
    const late = classifyAttempt(attempt(1, { failed: true, error: limited(9000) }), { ...spent, firstAttemptAt: NOW - 56_000 }, budget, NOW);
    expect(late.gaveUp).toBe('retry.maxDuration');
    expect(late.dead).toHaveLength(1);
  });

  it('Retry-After 0 (or a past date, parsed as 0) is a prompt ordinary retry, not a pause', () => {
    const o = classifyAttempt(attempt(1, { failed: true, error: http(429, true, 0) }), fresh, budget, NOW);
    expect(o.retry).toBeDefined();
    expect(o.retry!.pauseMs).toBeUndefined();
  });
});
