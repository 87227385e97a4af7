import { describe, expect, it } from 'vitest';
import { createSendStage } from '../../../src/delivery/stages/send.js';
import type { Output } from '../../../outputs/kit/types.js';

const text = '{"id":"a1","rule":"R","priority":"Notice","time":"2025-06-12T08:00:00Z","source":"syscall","tags":[],"output_fields":{"evt.time":1749715200123456789}}';

describe('send stage', () => {
  it('parses the job texts losslessly and returns the result as data', async () => {
    let seen: unknown;
    const output: Output = { send: async (alerts) => void (seen = alerts[0]!.output_fields['evt.time']) };
    const attempt = await createSendStage(output, 1000, new AbortController().signal)([text]);
    expect(seen).toBe(1749715200123456789n);
    expect(attempt).toMatchObject({ failed: false, texts: [text] });
  });

  it('never throws: an error becomes data', async () => {
    const output: Output = { send: async () => { throw new Error('bad'); } };
    const attempt = await createSendStage(output, 1000, new AbortController().signal)([text]);
    expect(attempt.failed).toBe(true);
    expect((attempt.error as Error).message).toBe('bad');
  });

  it('aborts the send at the timeout and at shutdown', async () => {
    const hang: Output = { send: (_a, { signal }) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason))) };
    const timedOut = await createSendStage(hang, 20, new AbortController().signal)([text]);
    expect((timedOut.error as Error).name).toBe('TimeoutError');
    const shutdown = new AbortController();
    const pending = createSendStage(hang, 60_000, shutdown.signal)([text]);
    shutdown.abort(new Error('shutting down'));
    expect(((await pending).error as Error).message).toBe('shutting down');
  });

  it('sends started together share a deadline: one that finished is left alone, one still running is aborted, never before its timeout', async () => {
    let release!: () => void;
    const signals: AbortSignal[] = [];
    const output: Output = {
      send: (alerts, { signal }) => {
        signals.push(signal);
        if (alerts[0]!.id === 'a1') return new Promise<void>((resolve) => (release = resolve));
        return new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
    };
    const send = createSendStage(output, 40, new AbortController().signal);
    const started = performance.now();
    const quick = send([text]);
    const slow = send([text.replace('"a1"', '"a2"')]);
    release();
    expect((await quick).failed).toBe(false);
    const timedOut = await slow;
    expect((timedOut.error as Error).name).toBe('TimeoutError');
    expect(performance.now() - started).toBeGreaterThanOrEqual(39);
    expect(signals[0]).toBe(signals[1]);
  });
});
