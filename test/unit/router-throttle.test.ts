import { describe, expect, it } from 'vitest';
import { RouterThrottle } from '../../src/worker/router-throttle.js';

describe('RouterThrottle', () => {
  const make = (backlog = 0) => new RouterThrottle(async () => backlog, { highBacklog: 100, lowBacklog: 10, highUtilisation: 0.85, lowUtilisation: 0.6 });

  it('pauses routing only when the process is CPU-bound and delivery has a backlog', async () => {
    const t = make();
    await t.sample(0.5, 10_000); // a slow destination: backlog, idle CPU
    expect(t.isPaused).toBe(false);
    await t.sample(0.95, 50); // busy, but delivery keeps up
    expect(t.isPaused).toBe(false);
    await t.sample(0.95, 500);
    expect(t.isPaused).toBe(true);
  });

  it('holds admissions while paused and releases them when the backlog drains or the CPU frees up', async () => {
    const t = make();
    await t.sample(0.95, 500);
    let admitted = 0;
    void t.admit().then(() => admitted++);
    void t.admit().then(() => admitted++);
    await t.sample(0.95, 50); // still above the low-water mark
    await Promise.resolve();
    expect(admitted).toBe(0);
    await t.sample(0.95, 5);
    await new Promise((r) => setImmediate(r));
    expect(admitted).toBe(2);
    expect(t.isPaused).toBe(false);

    await t.sample(0.95, 500);
    const third = t.admit();
    await t.sample(0.4, 500); // CPU no longer saturated: resume even with a backlog
    await expect(third).resolves.toBeUndefined();
  });

  it('releases everyone on stop', async () => {
    const t = make();
    await t.sample(0.95, 500);
    const waiting = t.admit();
    t.stop();
    await expect(waiting).resolves.toBeUndefined();
  });
});
