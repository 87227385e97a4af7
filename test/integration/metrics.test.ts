import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureServer, type CapturedRequest, type ScriptedResponse } from '../helpers/capture-server.js';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { REDIS_URL } from '../helpers/harness.js';
import { falconetProcess, useProcessRig, writeYaml } from '../helpers/procs.js';
import { waitFor } from '../helpers/wait.js';

const { tmp, procs, captures, newPrefix } = useProcessRig('metrics');

const PROMTOOL = spawnSync('promtool', ['--version']).status === 0;

/** Sum of the samples of `name` whose labels include every pair of `labels`. */
function sum(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

// First bulk: items 1 and 4 are retried (429), items 2 and 5 rejected for good (400); later bulks succeed.
function bulkAnswer(req: CapturedRequest, first: boolean): ScriptedResponse {
  const lines = req.body.trim().split('\n');
  const items = [];
  for (let i = 0; i < lines.length; i += 2) {
    const { create } = JSON.parse(lines[i]!) as { create: { _index: string; _id: string } };
    const n = i / 2;
    const status = !first ? 201 : n === 1 || n === 4 ? 429 : n === 2 || n === 5 ? 400 : 201;
    items.push({ create: { ...create, status, ...(status >= 400 ? { error: { type: status === 429 ? 'es_rejected_execution_exception' : 'document_parsing_exception', reason: 'test' } } : {}) } });
  }
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ took: 1, errors: first, items }) };
}

describe('metrics of real collector and worker processes', () => {
  it('pass promtool check metrics, and count every alert once per outcome (a partial bulk failure included)', async () => {
    const es = await new CaptureServer().start();
    const sink = await new CaptureServer().start();
    captures.push(es, sink);
    es.respondWith((req) => bulkAnswer(req, true));
    es.fallback = (req) => bulkAnswer(req, false);
    const prefix = newPrefix();
    const path = writeYaml(tmp, {
      listen: { host: '127.0.0.1', port: 0 },
      redis: { url: REDIS_URL, prefix, embedded: false },
      spool: { dir: join(tmp, 'spool') },
      worker: { metricsPort: 0 },
      minimumPriority: 'Notice',
      outputs: {
        es: { type: 'elasticsearch', url: `${es.url}/`, batch: { size: 6, interval: '1s' }, retry: { attempts: 5, backoff: '20ms', maxBackoff: '100ms' } },
        sink: { type: 'webhook', url: `${sink.url}/hook` },
      },
      routes: [
        { match: { rule: 'bulk' }, outputs: ['es'] },
        { outputs: ['sink'] },
      ],
    });
    const collector = falconetProcess('collector', path, procs);
    const worker = falconetProcess('worker', path, procs);
    const base = `http://127.0.0.1:${await collector.port('collector listening')}`;
    const workerBase = `http://127.0.0.1:${await worker.port('worker metrics listening')}`;
    await waitFor(() => worker.stderr().includes('worker started'), { timeoutMs: 30_000, what: 'worker started' });

    const post = async (body: string, type = 'application/json') => (await fetch(base, { method: 'POST', headers: falcoHeaders(type), body })).status;
    const now = Date.now();
    const alert = (i: number, over: Record<string, unknown> = {}) =>
      JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', source: 'syscall', hostname: 'node-1', time: new Date(now + i).toISOString(), output: `shell ${i}`, output_fields: { 'container.id': 'c1' }, ...over });
    // 6 alerts to es in one bulk (the partial failure), 10 to the sink, 2 below the floor, 1 exact duplicate, 1 bad request.
    const bulk = fixtureAlertLines().slice(0, 6).map((l) => JSON.stringify({ ...JSON.parse(l.replace(/:(\d{16,})/g, ':"$1"')), rule: 'bulk', priority: 'Warning', time: new Date(now).toISOString() }));
    expect(await post(bulk.join('\n'), 'application/x-ndjson')).toBe(200);
    for (let i = 0; i < 10; i++) expect(await post(alert(i))).toBe(200);
    for (let i = 0; i < 2; i++) expect(await post(alert(100 + i, { priority: 'Debug' }))).toBe(200);
    expect(await post(alert(0))).toBe(200); // the same Falco event again
    expect(await post('{"rule":')).toBe(400);

    await waitFor(() => sink.requests.length === 10 && es.requests.length >= 2, { timeoutMs: 30_000, what: 'deliveries' });
    let w = '';
    await waitFor(async () => {
      w = await (await fetch(`${workerBase}/metrics`)).text();
      return sum(w, 'falconet_deliveries_total', { output: 'es', status: 'ok' }) === 4;
    }, { timeoutMs: 30_000, what: 'the retried items delivered' });
    const c = await (await fetch(`${base}/metrics`)).text();

    // Collector: 19 alerts accepted, one request rejected, by source and priority.
    expect(sum(c, 'falconet_alerts_received_total', { status: 'accepted' })).toBe(19);
    expect(sum(c, 'falconet_alerts_received_total', { status: 'accepted', priority: 'Debug' })).toBe(2);
    expect(sum(c, 'falconet_alerts_received_total', { status: 'rejected' })).toBe(1);
    // Router: each accepted alert under one outcome.
    expect(sum(w, 'falconet_alerts_routed_total')).toBe(19);
    expect(sum(w, 'falconet_alerts_routed_total', { outcome: 'routed' })).toBe(16);
    expect(sum(w, 'falconet_alerts_routed_total', { outcome: 'dropped_priority' })).toBe(2);
    expect(sum(w, 'falconet_alerts_routed_total', { outcome: 'duplicate' })).toBe(1);
    // Outputs: every routed alert once under a final status; the partial bulk split 4 ok / 2 rejected, 2 retried once.
    const final = (output: string) => ['ok', 'rejected', 'failed'].reduce((n, status) => n + sum(w, 'falconet_deliveries_total', { output, status }), 0);
    expect(final('es') + final('sink')).toBe(16);
    expect(sum(w, 'falconet_deliveries_total', { output: 'es', status: 'rejected', reason: 'rejected_item' })).toBe(2);
    expect(sum(w, 'falconet_deliveries_total', { output: 'es', status: 'retry' })).toBe(2);
    expect(sum(w, 'falconet_deliveries_total', { output: 'sink', status: 'ok', reason: 'none' })).toBe(10);
    expect(sum(w, 'falconet_end_to_end_seconds_count', { output: 'es' })).toBe(4);
    expect(sum(w, 'falconet_end_to_end_seconds_count', { output: 'sink' })).toBe(10);
    expect(sum(w, 'falconet_delivery_duration_seconds_count', { output: 'es' })).toBe(2);
    // Queue gauges, read from Redis at scrape time: the es dead letters are there.
    expect(sum(w, 'falconet_queue_jobs', { queue: 'deliver.es', state: 'dlq' })).toBe(2);
    expect(w).toMatch(/falconet_queue_jobs\{queue="ingest",state="waiting"\} 0/);
    expect(c).toMatch(/falconet_queue_jobs\{queue="ingest",state="waiting"\} \d+/);
    expect(c).toMatch(/^falconet_config_last_reload_successful 1$/m);

    if (!PROMTOOL) {
      console.warn('promtool not installed (Debian package prometheus, .ci/prepare): skipping promtool check metrics');
      return;
    }
    for (const [role, text] of [['collector', c], ['worker', w]] as const) {
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(`${role}: ${check.stdout}${check.stderr}`.trim()).toBe(`${role}:`);
      expect(check.status).toBe(0);
    }
  }, 120_000);
});
