import { describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/collector/group-commit.js';
import { waitFor } from '../helpers/wait.js';

/** A write function whose calls are recorded and finished by the test. */
function controlledWriter() {
  const calls: Array<{ items: string[]; finish: (err?: Error) => void }> = [];
  const write = (items: string[]) =>
    new Promise<void>((resolve, reject) => calls.push({ items, finish: (err) => (err ? reject(err) : resolve()) }));
  return { calls, write };
}

const settled = (p: Promise<void>) => p.then(() => 'ok' as const, (e: Error) => e.message);

describe('group committer', () => {
  it('writes at once when idle (no timer)', async () => {
    const { calls, write } = controlledWriter();
    const gc = new GroupCommitter(write);
    const done = gc.submit(['a']);
    expect(calls.map((c) => c.items)).toEqual([['a']]);
    expect(gc.idle).toBe(false);
    calls[0]!.finish();
    await done;
    expect(gc.idle).toBe(true);
  });

  it('submissions arriving during a write go together in the next write', async () => {
    const { calls, write } = controlledWriter();
    const gc = new GroupCommitter(write);
    let aDone = false;
    let bDone = false;
    const a = gc.submit(['a']).then(() => (aDone = true));
    const b = gc.submit(['b1', 'b2']).then(() => (bDone = true));
    const c = gc.submit(['c']);
    expect(calls).toHaveLength(1);
    calls[0]!.finish();
    await a;
    expect(bDone).toBe(false);
    await waitFor(() => calls.length === 2, { what: 'second write' });
    expect(calls[1]!.items).toEqual(['b1', 'b2', 'c']);
    expect(bDone).toBe(false);
    calls[1]!.finish();
    await Promise.all([b, c]);
    expect(aDone && bDone).toBe(true);
    expect(calls).toHaveLength(2);
  });

  it('a failed write rejects only its own group', async () => {
    const { calls, write } = controlledWriter();
    const gc = new GroupCommitter(write);
    const a = settled(gc.submit(['a']));
    const b = settled(gc.submit(['b']));
    const c = settled(gc.submit(['c']));
    calls[0]!.finish(new Error('redis down'));
    await waitFor(() => calls.length === 2, { what: 'second write' });
    const d = settled(gc.submit(['d']));
    calls[1]!.finish();
    await waitFor(() => calls.length === 3, { what: 'third write' });
    calls[2]!.finish(new Error('again'));
    expect(await Promise.all([a, b, c, d])).toEqual(['redis down', 'ok', 'ok', 'again']);
    expect(calls.map((x) => x.items)).toEqual([['a'], ['b', 'c'], ['d']]);
    expect(gc.idle).toBe(true);
    // Still usable after failures.
    const e = gc.submit(['e']);
    calls[3]!.finish();
    await e;
  });

  it('cuts a backlog into writes of at most maxItems; only a submission larger than that is split', async () => {
    const { calls, write } = controlledWriter();
    const gc = new GroupCommitter(write, 3);
    const all = [gc.submit(['first']), gc.submit(['a', 'b']), gc.submit(['c']), gc.submit(['d', 'e', 'f', 'g']), gc.submit(['h'])];
    for (let i = 0; i < 4; i++) {
      await waitFor(() => calls.length === i + 1, { what: `write ${i + 1}` });
      calls[i]!.finish();
    }
    await Promise.all(all);
    expect(calls.map((c) => c.items)).toEqual([['first'], ['a', 'b', 'c'], ['d', 'e', 'f'], ['g', 'h']]);
  });
});

describe('group committer bound (issue #10)', () => {
  it('splits a submission larger than the bound into writes of at most maxItems, acking only after all', async () => {
    const { calls, write } = controlledWriter();
    const gc = new GroupCommitter(write, 1000);
    let done = false;
    const items = Array.from({ length: 2500 }, (_, i) => `a${i}`);
    const big = gc.submit(items).then(() => (done = true));
    const small = gc.submit(['s']);
    for (let k = 0; k < 3; k++) {
      await waitFor(() => calls.length === k + 1, { what: `write ${k + 1}` });
      expect(done).toBe(false);
      calls[k]!.finish();
    }
    await big;
    expect(calls.map((c) => c.items.length)).toEqual([1000, 1000, 501]);
    expect(calls.flatMap((c) => c.items)).toEqual([...items, 's']);
    await small;
  });

  it('a failed part fails the whole submission', async () => {
    const { calls, write } = controlledWriter();
    const gc = new GroupCommitter(write, 10);
    const big = settled(gc.submit(Array.from({ length: 25 }, (_, i) => `a${i}`)));
    calls[0]!.finish();
    await waitFor(() => calls.length === 2, { what: 'write 2' });
    calls[1]!.finish(new Error('spool full'));
    await waitFor(() => calls.length === 3, { what: 'write 3' });
    calls[2]!.finish();
    expect(await big).toBe('spool full');
  });
});
