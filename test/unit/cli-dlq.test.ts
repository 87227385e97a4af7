import { describe, expect, it } from 'vitest';
import { runDlqCommand } from '../../src/cli/dlq.js';
import { buildConfig } from '../../src/config/load.js';

const config = buildConfig(
  { redis: { url: 'redis://127.0.0.1:1', embedded: false }, outputs: { hook: { type: 'webhook', url: 'http://127.0.0.1:9/' } }, routes: [{ outputs: ['hook'] }] },
  {},
);

async function dlq(args: string[], flags = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDlqCommand(args, flags, config, (l) => out.push(l), (l) => err.push(l));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('falconet dlq (arguments and a Redis that does not answer)', () => {
  it('usage errors exit 2 and say what is missing, before touching Redis', async () => {
    expect(await dlq([])).toMatchObject({ code: 2, err: expect.stringContaining('usage: falconet dlq') });
    expect(await dlq(['drop'])).toMatchObject({ code: 2, err: expect.stringContaining('unknown action "drop"') });
    expect(await dlq(['purge'])).toMatchObject({ code: 2, err: expect.stringContaining('--output NAME is required') });
    expect(await dlq(['purge'], { output: 'hook', 'older-than': 'later' })).toMatchObject({ code: 2, err: expect.stringContaining('"later" is not a duration') });
  });

  it('no Redis: exit 1 naming the URL', async () => {
    expect(await dlq(['list'])).toMatchObject({ code: 1, err: expect.stringContaining('no Redis answers at redis://127.0.0.1:1') });
  });
});
