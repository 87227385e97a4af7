import { describe, expect, it } from 'vitest';
import { parseJson, stringifyJson } from '../../../src/alert/json.js';
import type { Alert } from '../../../src/alert/alert.js';
import { DeliveryError } from '../../../outputs/kit/errors.js';
import { classifyAttempt } from '../../../src/delivery/stages/classify.js';
import { createIsolateStage } from '../../../src/delivery/stages/isolate.js';
import { createSendStage } from '../../../src/delivery/stages/send.js';
import type { Output } from '../../../outputs/kit/types.js';
import { makeAlert } from '../stages/make-alert.js';

/** An output that cannot render rule "unrenderable", refuses "refused" with a 400 and is down (503) for "down". */
function output(sent: string[][]): Output {
  return {
    async send(alerts) {
      for (const a of alerts) if (a.rule === 'unrenderable') throw new RangeError('Invalid time value');
      sent.push(alerts.map((a) => a.id));
      if (alerts.some((a) => a.rule === 'refused')) throw new DeliveryError('http://x answered HTTP 400: no', { retryable: false, status: 400, reason: 'client_error' });
      if (alerts.some((a) => a.rule === 'down')) throw new DeliveryError('http://x answered HTTP 503', { retryable: true, status: 503, reason: 'server_error' });
    },
  };
}

describe('isolate stage', () => {
  const texts = (rules: string[]) => rules.map((rule) => stringifyJson(makeAlert({ rule })));

  it('a batch the output cannot build is sent alert by alert: only the unrenderable one is dead-lettered', async () => {
    const sent: string[][] = [];
    const send = createSendStage(output(sent), 1000, new AbortController().signal);
    const batch = texts(['ok', 'unrenderable', 'ok', 'refused', 'down']);
    const ids = batch.map((t) => (parseJson(t) as unknown as Alert).id);
    const attempt = await createIsolateStage(send)(await send(batch));
    expect(sent).toEqual([[ids[0]], [ids[2]], [ids[3]], [ids[4]]]);
    const outcome = classifyAttempt(attempt, { attemptsMade: 0, attempts: 3, sends: 0 }, { maxDuration: 60_000, maxRetryAfter: 1000 }, Date.now());
    expect(outcome.delivered).toBe(2);
    expect(outcome.dead.map((d) => [d.id, d.reason])).toEqual([
      [ids[1], 'output error: Invalid time value'],
      [ids[3], 'http://x answered HTTP 400: no'],
    ]);
    expect(outcome.retry?.texts).toEqual([batch[4]]);
  });

  it('leaves every other attempt alone (success, a DeliveryError, a single alert)', async () => {
    const sent: string[][] = [];
    const send = createSendStage(output(sent), 1000, new AbortController().signal);
    const isolate = createIsolateStage(send);
    for (const rules of [['ok', 'ok'], ['ok', 'refused'], ['unrenderable']]) {
      const attempt = await send(texts(rules));
      expect(await isolate(attempt)).toBe(attempt);
    }
    expect(sent).toHaveLength(2);
  });
});
