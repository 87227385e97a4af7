import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { useRig } from '../helpers/rig.js';

const rig = useRig();
let pipeline: Pipeline | undefined;
let capture: CaptureServer | undefined;

const MAX_BODY = 4096;
const alert = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ rule: 'Terminal shell in container', priority: 'Notice', time: '2025-06-12T08:00:00.000000001Z', output_fields: { 'k8s.ns.name': 'team1' }, ...over });

async function start(): Promise<Pipeline> {
  capture = await rig.capture();
  return (pipeline = await rig.pipeline(
    testConfig({
      listen: { host: '127.0.0.1', port: 0, maxBodySize: MAX_BODY },
      dedup: { window: 0 },
      outputs: { sink: { type: 'webhook', url: `${capture.url}/hook` } },
      routes: [{ outputs: ['sink'] }],
    }),
  ));
}

/** node:http request, for what fetch cannot do (Expect: 100-continue, chunked bodies). */
function rawRequest(
  url: string,
  opts: { headers: Record<string, string | number>; body?: string | string[]; waitContinue?: boolean },
): Promise<{ status: number; body: string; gotContinue: boolean }> {
  return new Promise((resolve, reject) => {
    let gotContinue = false;
    const req = request(url, { method: 'POST', headers: opts.headers });
    req.on('error', reject);
    req.on('continue', () => {
      gotContinue = true;
      for (const chunk of [opts.body ?? ''].flat()) req.write(chunk);
      req.end();
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, gotContinue }));
    });
    if (!opts.waitContinue) {
      for (const chunk of [opts.body ?? ''].flat()) req.write(chunk);
      req.end();
    }
  });
}

describe('collector: bad input battery', () => {
  it('answers each bad request with the right 4xx and a JSON {error, detail} naming the problem, then keeps serving', async () => {
    const p = await start();
    const json = { 'content-type': 'application/json' };
    const cases: Array<{ name: string; send: () => Promise<{ status: number; body: string }>; status: number; error: string; detail: RegExp }> = [
      { name: 'malformed JSON', send: () => post(p, '{"rule": "x", ', json), status: 400, error: 'invalid_json', detail: /JSON/ },
      { name: 'missing rule', send: () => post(p, alert({ rule: undefined }), json), status: 400, error: 'invalid_alert', detail: /^rule: required/ },
      { name: 'unknown priority', send: () => post(p, alert({ priority: 'Severe' }), json), status: 400, error: 'invalid_alert', detail: /^priority: "Severe" is not a Falco priority/ },
      { name: 'priority number', send: () => post(p, alert({ priority: 4 }), json), status: 400, error: 'invalid_alert', detail: /^priority: required, a string/ },
      { name: 'tags not array', send: () => post(p, alert({ tags: 'shell' }), json), status: 400, error: 'invalid_alert', detail: /^tags: must be an array of strings/ },
      { name: 'output_fields array', send: () => post(p, alert({ output_fields: ['a'] }), json), status: 400, error: 'invalid_alert', detail: /^output_fields: must be an object/ },
      { name: 'empty body', send: () => post(p, '', json), status: 400, error: 'empty_body', detail: /empty/ },
      { name: 'text that is no Falco line', send: () => post(p, 'hello', { 'content-type': 'text/plain' }), status: 400, error: 'invalid_text_alert', detail: /json_output/ },
      {
        name: 'oversized body (Content-Length)',
        send: () => post(p, alert({ output: 'x'.repeat(MAX_BODY) }), json),
        status: 413, error: 'body_too_large', detail: /4096 bytes/,
      },
      {
        name: 'oversized chunked body (no Content-Length)',
        send: () => rawRequest(`${p.collector.url}/`, { headers: { ...json, 'transfer-encoding': 'chunked' }, body: Array.from({ length: 10 }, () => 'y'.repeat(1000)) }),
        status: 413, error: 'body_too_large', detail: /4096 bytes/,
      },
      {
        name: 'Expect: 100-continue with an oversized Content-Length',
        send: async () => {
          const r = await rawRequest(`${p.collector.url}/`, { headers: { ...json, 'content-length': 100_000, expect: '100-continue' }, body: 'z'.repeat(100_000), waitContinue: true });
          expect(r.gotContinue, 'the body must not be asked for').toBe(false);
          return r;
        },
        status: 413, error: 'body_too_large', detail: /4096 bytes/,
      },
      {
        name: 'GET /',
        send: async () => {
          const r = await fetch(`${p.collector.url}/`);
          return { status: r.status, body: await r.text() };
        },
        status: 405, error: 'method_not_allowed', detail: /POST/,
      },
      {
        name: 'DELETE /',
        send: async () => {
          const r = await fetch(`${p.collector.url}/`, { method: 'DELETE' });
          return { status: r.status, body: await r.text() };
        },
        status: 405, error: 'method_not_allowed', detail: /POST/,
      },
    ];
    for (const c of cases) {
      const r = await c.send();
      expect(r.status, c.name).toBe(c.status);
      const body = JSON.parse(r.body) as { error: string; detail: string };
      expect(body.error, c.name).toBe(c.error);
      expect(body.detail, c.name).toMatch(c.detail);
    }
    // A small body with Expect: 100-continue is asked for and accepted.
    const cont = await rawRequest(`${p.collector.url}/`, { headers: { ...json, 'content-length': Buffer.byteLength(alert({ rule: 'via 100-continue' })), expect: '100-continue' }, body: alert({ rule: 'via 100-continue' }), waitContinue: true });
    expect(cont).toMatchObject({ status: 200, gotContinue: true });
    // Still serving: a valid alert is accepted and delivered; nothing from the battery was.
    const ok = await p.post(alert({ rule: 'after the battery' }), falcoHeaders());
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('');
    await waitFor(() => capture!.requests.length >= 2, { what: 'the valid alerts delivered' });
    // Nothing else pending in the output's queue (a first attempt sent from the router leaves no delivery job).
    await waitFor(async () => Object.values(await p.queue('sink').getJobCounts('waiting', 'active', 'delayed', 'failed')).every((n) => n === 0), { what: 'nothing left to deliver' });
    expect(capture!.requests.map((r) => (JSON.parse(r.body) as { rule: string }).rule).sort()).toEqual(['after the battery', 'via 100-continue']);
  });
});

describe('collector: endpoints', () => {
  it('POST /test delivers a test alert; /ping, /healthz, /readyz, /metrics answer', async () => {
    const p = await start();
    const ping = await fetch(`${p.collector.url}/ping`);
    expect(ping.status).toBe(200);
    expect(await ping.text()).toBe('pong\n');
    const health = await fetch(`${p.collector.url}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await fetch(`${p.collector.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', redis: 'up', spool: { bytes: 0, maxBytes: 1024 ** 3, oldestSeconds: 0 } }]);
    const test = await fetch(`${p.collector.url}/test?priority=critical`, { method: 'POST' });
    expect(test.status).toBe(200);
    const [req] = await waitFor(() => (capture!.requests.length > 0 ? capture!.requests : undefined), { what: 'test alert delivered' });
    const got = JSON.parse(req!.body) as { rule: string; priority: string; output_fields: Record<string, unknown> };
    expect(got).toMatchObject({ rule: 'Falconet test', priority: 'Critical', output_fields: { 'falconet.test': true } });
    const metrics = await (await fetch(`${p.collector.url}/metrics`)).text();
    expect(metrics).toMatch(/accepted/);
  });
});

async function post(p: Pipeline, body: string, headers: Record<string, string>) {
  const r = await p.post(body, headers);
  return { status: r.status, body: await r.text() };
}
