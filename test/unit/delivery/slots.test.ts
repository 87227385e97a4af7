import { describe, expect, it } from 'vitest';
import { SendSlots } from '../../../src/delivery/slots.js';

describe('send slots', () => {
  it('waits with a time limit give up at their own time, in any order of limits, and never take a slot after giving up', async () => {
    const slots = new SendSlots(1);
    expect(slots.tryAcquire()).toBe(true);
    const started = performance.now();
    const outcomes: Array<[string, boolean, number]> = [];
    const wait = (name: string, ms: number) => slots.acquireWithin(ms).then((granted) => void outcomes.push([name, granted, performance.now() - started]));
    const all = Promise.all([wait('long', 60), wait('short', 20), wait('mid', 40)]);
    expect(slots.waiting).toBe(3);
    await all;
    expect(outcomes.map(([name, granted]) => [name, granted])).toEqual([['short', false], ['mid', false], ['long', false]]);
    for (const [, , at] of outcomes) expect(at).toBeGreaterThanOrEqual(19);
    expect(outcomes[2]![2]).toBeGreaterThanOrEqual(59);
    expect(slots.waiting).toBe(0);
    // The slot is still the first holder's: released, it is free again, nobody who gave up gets it.
    slots.release();
    expect(slots.inUse).toBe(0);
    expect(slots.tryAcquire()).toBe(true);
  });

  it('a released slot goes to the oldest waiter still waiting, a job (no limit) or a first attempt alike', async () => {
    const slots = new SendSlots(1);
    slots.tryAcquire();
    const order: string[] = [];
    const gaveUp = slots.acquireWithin(10).then((granted) => order.push(`gave-up:${granted}`));
    await gaveUp;
    const job = slots.acquire().then(() => order.push('job'));
    const first = slots.acquireWithin(1000).then((granted) => order.push(`first:${granted}`));
    expect(slots.waiting).toBe(2);
    expect(slots.tryAcquire()).toBe(false);
    slots.release();
    await job;
    slots.release();
    await first;
    expect(order).toEqual(['gave-up:false', 'job', 'first:true']);
    expect(slots.inUse).toBe(1);
    slots.release();
    expect(slots.inUse).toBe(0);
  });

  it('many waiters that gave up do not pile up in the queue', async () => {
    const slots = new SendSlots(1);
    slots.tryAcquire();
    await Promise.all(Array.from({ length: 500 }, () => slots.acquireWithin(5)));
    expect(slots.waiting).toBe(0);
    expect((slots as unknown as { waiters: unknown[] }).waiters.length).toBeLessThanOrEqual(16);
  });
});
