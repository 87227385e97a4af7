import { describe, expect, it } from 'vitest';
import { classifyHttpStatus, networkError, parseRetryAfter } from '../../outputs/kit/classify.js';
import { DeliveryError } from '../../outputs/kit/errors.js';
import { jitterBackoff } from '../../src/queue/job-options.js';

function classify(status: number, headers: Record<string, string | string[]> = {}, body = '', opts = {}) {
  try {
    classifyHttpStatus(status, headers, body, 'https://hooks.example', opts);
    return 'ok' as const;
  } catch (err) {
    expect(err).toBeInstanceOf(DeliveryError);
    return err as DeliveryError;
  }
}

describe('classifyHttpStatus', () => {
  it('status table', () => {
    const table: Array<[number, 'ok' | { retryable: boolean; reason: string }]> = [
      [200, 'ok'],
      [201, 'ok'],
      [204, 'ok'],
      [299, 'ok'],
      [301, { retryable: false, reason: 'client_error' }],
      [400, { retryable: false, reason: 'client_error' }],
      [401, { retryable: false, reason: 'auth_error' }],
      [403, { retryable: false, reason: 'auth_error' }],
      [404, { retryable: false, reason: 'client_error' }],
      [408, { retryable: true, reason: 'timeout' }],
      [413, { retryable: false, reason: 'client_error' }],
      [422, { retryable: false, reason: 'client_error' }],
      [429, { retryable: true, reason: 'rate_limited' }],
      [500, { retryable: true, reason: 'server_error' }],
      [502, { retryable: true, reason: 'server_error' }],
      [503, { retryable: true, reason: 'server_error' }],
      [504, { retryable: true, reason: 'server_error' }],
    ];
    for (const [status, want] of table) {
      const got = classify(status);
      if (want === 'ok') expect(got, String(status)).toBe('ok');
      else expect(got, String(status)).toMatchObject({ ...want, status });
    }
  });

  it('retryOn and okOn extend the table', () => {
    expect(classify(409, {}, '', { retryOn: [409] })).toMatchObject({ retryable: true });
    expect(classify(409, {}, '', { okOn: [409] })).toBe('ok');
  });

  it('the message names the target and status with a trimmed body snippet', () => {
    const err = classify(400, {}, `  ${'x'.repeat(1000)}  `) as DeliveryError;
    expect(err.message).toBe(`https://hooks.example answered HTTP 400: ${'x'.repeat(300)}`);
    expect((classify(500) as DeliveryError).message).toBe('https://hooks.example answered HTTP 500');
  });

  it('honours Retry-After on 429 and 503 only', () => {
    expect((classify(429, { 'retry-after': '2' }) as DeliveryError).retryAfterMs).toBe(2000);
    expect((classify(503, { 'retry-after': '7' }) as DeliveryError).retryAfterMs).toBe(7000);
    expect((classify(429, { 'retry-after': ['3', '9'] }) as DeliveryError).retryAfterMs).toBe(3000);
    expect((classify(500, { 'retry-after': '2' }) as DeliveryError).retryAfterMs).toBeUndefined();
    expect((classify(429) as DeliveryError).retryAfterMs).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  const now = () => Date.parse('2025-06-12T08:00:00Z');
  it('delay-seconds', () => {
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(' 120 ')).toBe(120_000);
    expect(parseRetryAfter('1.5')).toBe(1500);
  });
  it('HTTP-date, relative to now; a past date is 0', () => {
    expect(parseRetryAfter('Thu, 12 Jun 2025 08:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Thu, 12 Jun 2025 07:59:00 GMT', now)).toBe(0);
  });
  it('is not capped here (the classify stage caps it by retry.maxRetryAfter)', () => {
    expect(parseRetryAfter('86400')).toBe(86_400_000);
    expect(parseRetryAfter('Fri, 13 Jun 2025 08:00:00 GMT', now)).toBe(86_400_000);
  });
  it('missing or unparseable → undefined', () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('')).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('networkError', () => {
  it('is always retryable: timeout when aborted, network otherwise with the code', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(networkError(refused, 'http://x')).toMatchObject({ retryable: true, reason: 'network', message: 'http://x: ECONNREFUSED' });
    const ac = new AbortController();
    ac.abort();
    expect(networkError(new Error('aborted'), 'http://x', ac.signal)).toMatchObject({ retryable: true, reason: 'timeout' });
  });
});

describe('jitterBackoff (full jitter)', () => {
  it('stays within [0, min(max, initial·2^(attempt-1))]', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(10_000, 100 * 2 ** (attempt - 1));
      for (const r of [0, 0.25, 0.5, 0.999999]) {
        const d = jitterBackoff(attempt, 100, 10_000, () => r);
        expect(d, `attempt ${attempt} r ${r}`).toBeGreaterThanOrEqual(0);
        expect(d, `attempt ${attempt} r ${r}`).toBeLessThanOrEqual(ceiling);
      }
      expect(jitterBackoff(attempt, 100, 10_000, () => 0.999999)).toBe(Math.round(0.999999 * ceiling));
    }
  });
  it('is jittered over the whole range (full jitter, not equal jitter)', () => {
    expect(jitterBackoff(3, 100, 10_000, () => 0)).toBe(0);
    expect(jitterBackoff(3, 100, 10_000, () => 0.1)).toBe(40);
    expect(jitterBackoff(1, 100, 10_000, () => 0.5)).toBe(50);
  });
  it('the ceiling doubles per attempt and is capped at maxMs', () => {
    const top = (a: number) => jitterBackoff(a, 50, 1000, () => 1);
    expect([1, 2, 3, 4, 5, 6, 20].map(top)).toEqual([50, 100, 200, 400, 800, 1000, 1000]);
    expect(jitterBackoff(0, 50, 1000, () => 1)).toBe(50);
  });
  it('with Math.random, many draws cover both halves of the range', () => {
    const draws = Array.from({ length: 200 }, () => jitterBackoff(4, 100, 10_000));
    expect(draws.every((d) => d >= 0 && d <= 800)).toBe(true);
    expect(draws.some((d) => d < 400)).toBe(true);
    expect(draws.some((d) => d > 400)).toBe(true);
  });
});
