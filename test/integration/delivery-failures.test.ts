import { describe, expect, it } from 'vitest';
import { CaptureServer, type CapturedRequest, type ScriptedResponse } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { enqueueIngest, testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { useRig } from '../helpers/rig.js';
import { deadLetters } from '../helpers/dlq.js';

const rig = useRig();
let pipeline: Pipeline | undefined;
const capture = () => rig.capture();

const alert = (rule: string) => JSON.stringify({ rule, priority: 'Warning', time: '2025-06-12T08:00:00Z', hostname: 'node-1' });
const ruleOf = (r: CapturedRequest) => (JSON.parse(r.body) as { rule: string }).rule;

/** A responder that records the status it answered with, per request. */
function recording(decide: (req: CapturedRequest) => ScriptedResponse) {
  const answered: Array<{ rule: string; status: number; at: number }> = [];
  const fn = (req: CapturedRequest) => {
    const r = decide(req);
    answered.push({ rule: ruleOf(req), status: r.status, at: req.at });
    return r;
  };
  return { answered, fn };
}

describe('delivery failures', () => {
  it('an output answering 500 then 200 is retried and gets each alert exactly once', async () => {
    const sink = await capture();
    const seen = new Map<string, number>();
    const { answered, fn } = recording((req) => {
      const n = (seen.get(ruleOf(req)) ?? 0) + 1;
      seen.set(ruleOf(req), n);
      return n === 1 ? { status: 500, body: 'try later' } : { status: 200 };
    });
    sink.fallback = fn;
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { flaky: { type: 'webhook', url: `${sink.url}/hook`, retry: { attempts: 5, backoff: '50ms', maxBackoff: '200ms' } } },
        routes: [{ outputs: ['flaky'] }],
      }),
    );
    const rules = ['a', 'b', 'c'];
    for (const r of rules) expect((await pipeline.post(alert(r), falcoHeaders())).status).toBe(200);
    const q = pipeline.queue('flaky');
    await waitFor(async () => (await q.getJobCounts('completed')).completed === 3, { what: '3 jobs completed' });
    expect((await q.getJobCounts('failed', 'waiting', 'delayed', 'active'))).toEqual({ failed: 0, waiting: 0, delayed: 0, active: 0 });
    for (const r of rules) {
      expect(answered.filter((x) => x.rule === r).map((x) => x.status), r).toEqual([500, 200]);
    }
    // The first send was the router's own (src/delivery/direct.ts); the retry went through the
    // queue as a job that remembers that send and has one attempt fewer.
    const jobs = await q.getCompleted();
    expect(jobs.map((j) => [j.attemptsMade, j.opts.attempts, j.data.sends])).toEqual([[1, 4, 1], [1, 4, 1], [1, 4, 1]]);
  });

  it('a 400 dead-letters the alert with the reason, at once, and another output is unaffected', async () => {
    const bad = await capture();
    bad.fallback = { status: 400, body: '{"error":"field foo is required"}' };
    const good = await capture();
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          bad: { type: 'webhook', url: `${bad.url}/hook`, retry: { attempts: 5, backoff: '50ms' } },
          good: { type: 'webhook', url: `${good.url}/hook` },
        },
        routes: [{ outputs: ['bad', 'good'] }],
      }),
    );
    const dlq = deadLetters(pipeline.config);
    expect((await pipeline.post(alert('rejected'), falcoHeaders())).status).toBe(200);
    const letters = await waitFor(async () => {
      const l = await dlq.list('bad');
      return l.length > 0 ? l : undefined;
    }, { what: 'a dead letter' });
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toMatch(/HTTP 400/);
    expect(letters[0]!.reason).toContain('field foo is required');
    expect(letters[0]).toMatchObject({ output: 'bad', rule: 'rejected', status: 400, attempts: 1 });
    expect(JSON.parse(letters[0]!.alert).rule).toBe('rejected');
    // Not retried: one request only, even though 5 attempts were allowed.
    expect(bad.requests).toHaveLength(1);
    // The dead letter is not in the live queue: its first (router) send settled it, nothing failed or waits.
    const q = pipeline.queue('bad');
    expect(await q.getJobCounts('failed', 'waiting', 'delayed', 'active')).toEqual({ failed: 0, waiting: 0, delayed: 0, active: 0 });
    await waitFor(() => good.requests.length === 1, { what: 'the good output delivered' });
    expect(ruleOf(good.requests[0]!)).toBe('rejected');
    // And the bad output keeps trying new alerts (it is not stopped by a dead letter).
    expect((await pipeline.post(alert('second'), falcoHeaders())).status).toBe(200);
    await waitFor(async () => (await dlq.list('bad')).length === 2, { what: 'second dead letter' });
    await waitFor(() => good.requests.length === 2, { what: 'second good delivery' });
  });

  it('429 with Retry-After: 2 pauses only that output; it gets its alerts after ≥ 2 s, each exactly once', async () => {
    const slow = await capture();
    let limited = false;
    const { answered, fn } = recording(() => {
      if (limited) return { status: 200 };
      limited = true;
      return { status: 429, headers: { 'retry-after': '2' }, body: 'slow down' };
    });
    slow.fallback = fn;
    const fast = await capture();
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          slow: { type: 'webhook', url: `${slow.url}/hook`, retry: { attempts: 3, backoff: '50ms' } },
          fast: { type: 'webhook', url: `${fast.url}/hook` },
        },
        routes: [{ outputs: ['slow', 'fast'] }],
      }),
    );
    expect((await pipeline.post(alert('first'), falcoHeaders())).status).toBe(200);
    // Generous deadlines: this file also runs while the rest of the suite loads both cores.
    await waitFor(() => answered.length === 1, { timeoutMs: 20_000, what: 'the 429' });
    const limitedAt = answered[0]!.at;
    // While `slow` is paused, `fast` keeps delivering new alerts.
    for (const r of ['second', 'third']) expect((await pipeline.post(alert(r), falcoHeaders())).status).toBe(200);
    await waitFor(() => fast.requests.length === 3, { timeoutMs: 20_000, what: 'fast delivered 3' });
    await waitFor(() => answered.filter((a) => a.status === 200).length === 3, { timeoutMs: 15_000, what: 'slow delivered 3' });
    const resumedAt = Math.min(...answered.slice(1).map((a) => a.at));
    // Lower bound only: nothing reached `slow` during the pause.
    expect(resumedAt - limitedAt).toBeGreaterThanOrEqual(1950);
    expect(fast.requests.every((r) => r.at < resumedAt)).toBe(true);
    expect(answered.filter((a) => a.status === 200).map((a) => a.rule).sort()).toEqual(['first', 'second', 'third']);
    expect(answered).toHaveLength(4);
    const q = pipeline.queue('slow');
    await waitFor(async () => (await q.getJobCounts('completed')).completed === 3, { what: 'slow jobs completed' });
    expect((await q.getJobCounts('failed')).failed).toBe(0);
  });

  it('Retry-After: 0 and a Retry-After date in the past are retried promptly, not paused', async () => {
    const sink = await capture();
    const seen = new Map<string, number>();
    const { answered, fn } = recording((req) => {
      const n = (seen.get(ruleOf(req)) ?? 0) + 1;
      seen.set(ruleOf(req), n);
      if (n > 1) return { status: 200 };
      const retryAfter = ruleOf(req) === 'zero' ? '0' : new Date(Date.now() - 3_600_000).toUTCString();
      return { status: 429, headers: { 'retry-after': retryAfter }, body: 'slow down' };
    });
    sink.fallback = fn;
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        // A pause would last maxRetryAfter (1 h here): far beyond the deadline below.
        outputs: { o: { type: 'webhook', url: sink.url, retry: { attempts: 5, backoff: '50ms', maxRetryAfter: '1h' } } },
        routes: [{ outputs: ['o'] }],
      }),
    );
    for (const r of ['zero', 'past']) expect((await pipeline.post(alert(r), falcoHeaders())).status).toBe(200);
    await waitFor(() => answered.filter((a) => a.status === 200).length === 2, { timeoutMs: 20_000, what: 'both delivered after their 429' });
    for (const r of ['zero', 'past']) expect(answered.filter((a) => a.rule === r).map((a) => a.status), r).toEqual([429, 200]);
    expect(await deadLetters(pipeline.config).list('o')).toEqual([]);
  });

  it('an endless 429 with Retry-After is dead-lettered after retry.maxDuration and never sent again', async () => {
    const sink = await capture();
    sink.fallback = { status: 429, headers: { 'retry-after': '1' }, body: 'quota exceeded' };
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { o: { type: 'webhook', url: sink.url, retry: { attempts: 2, backoff: '50ms', maxDuration: '3s' } } },
        routes: [{ outputs: ['o'] }],
      }),
    );
    expect((await pipeline.post(alert('limited'), falcoHeaders())).status).toBe(200);
    const dlq = deadLetters(pipeline.config);
    const [letter] = await waitFor(async () => {
      const l = await dlq.list('o');
      return l.length > 0 ? l : undefined;
    }, { timeoutMs: 30_000, what: 'the dead letter' });
    expect(letter!.reason).toContain('HTTP 429: quota exceeded');
    expect(letter!.reason).toContain('retry.maxDuration');
    expect(letter!.status).toBe(429);
    // More sends than retry.attempts: Retry-After pauses do not spend attempts, but they do spend time.
    expect(letter!.attempts).toBeGreaterThan(2);
    expect(letter!.lastAttemptAt - letter!.firstAttemptAt).toBeLessThan(3000);
    // Nothing left that could send it again: the job is completed, none waits, is delayed or active.
    const q = pipeline.queue('o');
    await waitFor(async () => (await q.getJobCounts('completed')).completed === 1, { what: 'the job completed' });
    expect(await q.getJobCounts('waiting', 'delayed', 'active', 'failed')).toEqual({ waiting: 0, delayed: 0, active: 0, failed: 0 });
    expect(sink.requests).toHaveLength(letter!.attempts);
  });

  it('one alert an output cannot render fails alone: the rest of its batch is delivered', async () => {
    const am = await capture();
    pipeline = await rig.pipeline(
      testConfig({ dedup: { window: 0 }, outputs: { am: { type: 'alertmanager', urls: [am.url], batch: { size: 3, interval: '5s' } } }, routes: [{ outputs: ['am'] }] }),
    );
    // Alertmanager's payload cannot express this time. Today's collector refuses it at the door;
    // one that reached the queue anyway (an older collector) must still fail alone.
    const far = JSON.stringify({ rule: 'far future', priority: 'Warning', time: '+275760-09-13T00:00:00Z', hostname: 'node-1' });
    const lines = [alert('before'), far, alert('after')];
    expect((await pipeline.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(400);
    await enqueueIngest(pipeline.config, lines);
    const dlq = deadLetters(pipeline.config);
    const [letter] = await waitFor(async () => ((await dlq.count('am')) === 1 ? dlq.list('am') : undefined), { what: 'the dead letter' });
    expect(letter).toMatchObject({ rule: 'far future', reason: 'output error: Invalid time value' });
    const posted = am.requests.flatMap((r) => (JSON.parse(r.body) as Array<{ labels: { alertname: string } }>).map((a) => a.labels.alertname));
    expect(posted.sort()).toEqual(['after', 'before']);
    // The batch was sent from the router (its first attempt) and is settled: no delivery job holds any of it.
    expect(await pipeline.queue('am').getJobCounts('waiting', 'delayed', 'active', 'failed', 'completed')).toEqual({ waiting: 0, delayed: 0, active: 0, failed: 0, completed: 0 });
  });

  it('a pause of an output queue holds for every worker, also on outputs without a rateLimit', async () => {
    // What a Retry-After does, seen from outside: the queue is rate-limited in Redis, so no
    // worker slot and no other worker process may take its jobs until the pause ends.
    const sink = await capture();
    pipeline = await rig.pipeline(
      testConfig({ dedup: { window: 0 }, outputs: { o: { type: 'webhook', url: sink.url, concurrency: 8 } }, routes: [{ outputs: ['o'] }] }),
    );
    const pausedAt = Date.now();
    await pipeline.queue('o').rateLimit(1500);
    expect((await pipeline.post(alert('held'), falcoHeaders())).status).toBe(200);
    await waitFor(() => sink.requests.length === 1, { timeoutMs: 15_000, what: 'delivery after the pause' });
    expect(sink.requests[0]!.at - pausedAt).toBeGreaterThanOrEqual(1400);
  });
});

describe('alerts queued together for an unbatched output (issue #10)', () => {
  it('a slow destination: what waits too long for a slot goes to the queue as one job, sent alert by alert; a failure retries that alert alone', async () => {
    const sink = await capture();
    let failedOnce = false;
    // Slow enough that no slot frees within SLOT_WAIT_MS; alert r7 fails once.
    const { answered, fn } = recording((req) => {
      if (ruleOf(req) === 'r7' && !failedOnce) {
        failedOnce = true;
        return { status: 500, body: 'try later' };
      }
      return { status: 200, delayMs: 120 };
    });
    sink.fallback = fn;
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { slow: { type: 'webhook', url: `${sink.url}/hook`, concurrency: 1, retry: { attempts: 5, backoff: '50ms', maxBackoff: '200ms' } } },
        routes: [{ outputs: ['slow'] }],
      }),
    );
    const rules = Array.from({ length: 12 }, (_, i) => `r${i}`);
    // One request, one ingest entry: the router's first attempt takes the only slot.
    expect((await pipeline.post(rules.map(alert).join('\n'), { ...falcoHeaders(), 'content-type': 'application/x-ndjson' })).status).toBe(200);
    await waitFor(() => answered.filter((a) => a.status === 200).length >= 12, { what: 'all 12 alerts delivered', timeoutMs: 20_000 });
    // One alert per request, never an array; each delivered once.
    const delivered = answered.filter((a) => a.status === 200).map((a) => a.rule);
    expect(delivered.sort()).toEqual([...rules].sort());
    expect(sink.requests.every((r) => !r.body.trimStart().startsWith('['))).toBe(true);
    expect(answered.filter((a) => a.rule === 'r7').map((a) => a.status)).toEqual([500, 200]);
    // Far fewer delivery jobs than alerts: the eleven that waited went as one job.
    const q = pipeline.queue('slow')!;
    await waitFor(async () => (await q.getJobCounts('completed')).completed! >= 1, { what: 'the group job completed' });
    const jobs = await q.getJobs(['completed', 'waiting', 'delayed', 'active', 'failed']);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.id).toMatch(/^m[0-9a-f]{40}$/);
    // Two runs: the first sent all eleven (r7 got a 500), the second sent r7 alone.
    expect(jobs[0]!.attemptsMade).toBe(2);
    expect(jobs[0]!.data.alerts.map((t: string) => (JSON.parse(t) as { rule: string }).rule)).toEqual(['r7']);
  });
});

describe('a job of alerts queued together meets a Retry-After', () => {
  it('no send of that job starts during the pause; every alert is delivered once after it', async () => {
    const sink = await capture();
    let paused = false;
    const { answered, fn } = recording((req) => {
      const rule = ruleOf(req);
      // The router's two first attempts are slow, so the other eight wait too long for a slot and are queued as one job.
      if (rule === 'r0' || rule === 'r1') return { status: 200, delayMs: 150 };
      if (!paused) {
        paused = true;
        return { status: 429, headers: { 'Retry-After': '1' }, body: 'slow down' };
      }
      return { status: 200 };
    });
    sink.fallback = fn;
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { hook: { type: 'webhook', url: `${sink.url}/hook`, concurrency: 2, retry: { attempts: 5, backoff: '50ms', maxBackoff: '200ms' } } },
        routes: [{ outputs: ['hook'] }],
      }),
    );
    const rules = Array.from({ length: 10 }, (_, i) => `r${i}`);
    expect((await pipeline.post(rules.map(alert).join('\n'), { ...falcoHeaders(), 'content-type': 'application/x-ndjson' })).status).toBe(200);
    await waitFor(() => new Set(answered.filter((a) => a.status === 200).map((a) => a.rule)).size === 10, { what: 'all 10 delivered', timeoutMs: 20_000 });
    const pausedAt = answered.find((a) => a.status === 429)!.at;
    // Only a send already out when the 429 came (the output's other slot) may arrive meanwhile.
    const duringPause = answered.filter((a) => a.at > pausedAt && a.at < pausedAt + 900);
    expect(duringPause.length).toBeLessThanOrEqual(1);
    expect(answered.filter((a) => a.status === 200).map((a) => a.rule).sort()).toEqual([...rules].sort());
  });
});
