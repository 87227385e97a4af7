import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { startPipeline, testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { deadLetters } from '../helpers/dlq.js';

/** Debian names the binary prometheus-alertmanager; upstream tarballs call it alertmanager. .ci/prepare installs it. */
const BINARY = ['prometheus-alertmanager', 'alertmanager'].find((name) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0);

interface AmAlert {
  fingerprint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

let am: ChildProcess | undefined;
let amUrl = '';
let amLog = '';
let dir = '';
let pipeline: Pipeline | undefined;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function amAlerts(): Promise<AmAlert[]> {
  const res = await fetch(`${amUrl}/api/v2/alerts`);
  if (!res.ok) throw new Error(`GET /api/v2/alerts: ${res.status}`);
  return (await res.json()) as AmAlert[];
}

/** A fixture alert as if Falco raised it at `at`: Alertmanager hides alerts whose endsAt has passed. */
function firedAt(line: string, at: Date): string {
  const nanos = BigInt(at.getTime()) * 1_000_000n;
  return line
    .replace(/"time":"[^"]*"/, `"time":"${at.toISOString().replace('Z', '000000Z')}"`)
    .replace(/"evt\.time":\d+/, `"evt.time":${nanos}`);
}

beforeAll(async () => {
  if (!BINARY) return;
  dir = mkdtempSync(join(tmpdir(), 'falconet-am-'));
  writeFileSync(join(dir, 'alertmanager.yml'), 'route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n');
  const port = await freePort();
  amUrl = `http://127.0.0.1:${port}`;
  am = spawn(BINARY, [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
  ]);
  am.stdout?.on('data', (c: Buffer) => (amLog += c));
  am.stderr?.on('data', (c: Buffer) => (amLog += c));
  await waitFor(async () => (await fetch(`${amUrl}/-/ready`)).ok, { timeoutMs: 20_000, what: 'alertmanager ready' }).catch((err: Error) => {
    throw new Error(`${err.message}\n${amLog.slice(-2000)}`);
  });
});

afterAll(async () => {
  // Alertmanager writes its data dir until it has exited: wait for that before removing it.
  if (am && am.exitCode === null && am.signalCode === null) {
    const exited = new Promise((resolve) => am!.once('exit', resolve));
    am.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await pipeline?.stop();
  pipeline = undefined;
});

const TITLE = BINARY
  ? 'receives alerts through Falconet with the bounded label set; a repeat is the same alert'
  : 'SKIPPED: prometheus-alertmanager not found on PATH; run `bash .ci/prepare` (apt-get install prometheus-alertmanager)';

describe('real Alertmanager', () => {
  it.skipIf(!BINARY)(TITLE, async () => {
    pipeline = await startPipeline(
      testConfig({
        dedup: { window: 0 },
        customFields: { cluster_name: 'e2e-cluster' },
        outputs: {
          am: { type: 'alertmanager', urls: [amUrl], labelFields: ['cluster_name'], extraLabels: { team: 'security' }, batch: { size: 100, interval: 50 } },
        },
        routes: [{ outputs: ['am'] }],
      }),
    );
    const lines = fixtureAlertLines();
    const now = new Date();
    // syscall in a pod, k8s_audit, plugin (int64, unicode), internal, emergency without a pod.
    const picked = [8, 7, 0, 3, 24, 43].map((i) => firedAt(lines[i]!, now));
    for (const line of picked) expect((await pipeline.post(line, falcoHeaders())).status).toBe(200);

    const rules = new Set(picked.map((l) => (JSON.parse(l) as { rule: string }).rule));
    const received = await waitFor(async () => {
      const alerts = await amAlerts();
      return alerts.filter((a) => rules.has(a.labels.alertname!)).length === rules.size ? alerts : undefined;
    }, { what: 'all alerts in Alertmanager' });

    const shell = received.find((a) => a.labels.alertname === 'Terminal shell in container')!;
    expect(shell.labels).toEqual({
      alertname: 'Terminal shell in container',
      priority: 'Notice',
      severity: 'info',
      source: 'falco',
      eventsource: 'syscall',
      hostname: 'ip-10-0-12-34.ec2.internal',
      k8s_ns_name: 'team1',
      k8s_pod_name: 'storefront-web-7c9d8f6b9-kx2lm',
      cluster_name: 'e2e-cluster',
      team: 'security',
    });
    expect(shell.annotations.summary).toBe('Terminal shell in container');
    expect(shell.annotations.description).toContain('A shell was spawned');
    expect(shell.annotations.output_fields).toContain(`"evt.time":${BigInt(now.getTime()) * 1_000_000n}`);
    expect(Date.parse(shell.startsAt)).toBe(now.getTime());
    expect(Date.parse(shell.endsAt)).toBe(now.getTime() + 600_000);
    expect(received.find((a) => a.labels.alertname === 'Attach/Exec Pod')!.labels).toMatchObject({ eventsource: 'k8s_audit', k8s_ns_name: 'team1', severity: 'info' });
    expect(received.find((a) => a.labels.alertname === 'Write to core_pattern from container')!.labels.severity).toBe('critical');
    expect(received.find((a) => a.labels.alertname === 'User has been locked out in OKTA')!.annotations.description).toContain('Zoë Ångström');

    // The same rule again in the same pod a second later: a second POST, the same labels.
    const later = new Date(now.getTime() + 1000);
    const repeat = firedAt(lines[8]!, later);
    expect((await pipeline.post(repeat, falcoHeaders())).status).toBe(200);
    const laterTime = later.toISOString().replace('Z', '000000Z');
    const after = await waitFor(async () => {
      const alerts = await amAlerts();
      // Annotations come from the newest post: this proves the repeat reached Alertmanager.
      return alerts.some((a) => a.annotations.time === laterTime) ? alerts : undefined;
    }, { what: 'the repeat in Alertmanager' });
    const shells = after.filter((a) => a.labels.alertname === 'Terminal shell in container');
    expect(shells).toHaveLength(1);
    expect(shells[0]!.fingerprint).toBe(shell.fingerprint);
    expect(Date.parse(shells[0]!.startsAt)).toBe(now.getTime()); // earliest startsAt kept
  });
});

/**
 * A reverse proxy in front of the real Alertmanager, as deployments have: it forwards every POST
 * but can make one alert invalid on the way (endsAt before startsAt), so that the real Alertmanager
 * gives its own partial answer, or answer 400 itself as a proxy does (an HTML page).
 */
async function startProxy(opts: { invalidId?: string; reject?: boolean }) {
  const { createServer: createHttpServer } = await import('node:http');
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      if (opts.reject) {
        res.writeHead(400, { 'content-type': 'text/html' });
        res.end('<html><body><h1>400 Bad Request</h1>proxy: client certificate required</body></html>');
        return;
      }
      const alerts = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AmAlert[];
      for (const a of alerts) if (a.annotations.falconet_id === opts.invalidId) a.endsAt = new Date(Date.parse(a.startsAt) - 60_000).toISOString();
      const answer = await fetch(`${amUrl}${req.url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
      res.end(await answer.text());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

describe('real Alertmanager: what counts as a partial success', () => {
  const amConfig = (url: string) =>
    testConfig({ dedup: { window: 0 }, outputs: { am: { type: 'alertmanager', urls: [url], batch: { size: 3, interval: '5s' } } }, routes: [{ outputs: ['am'] }] });
  const batchOf = (tag: string) => {
    const now = new Date();
    return [8, 7, 0].map((i) => firedAt(fixtureAlertLines()[i]!, now).replace('"rule":"', `"rule":"${tag} `));
  };

  it.skipIf(!BINARY)("Alertmanager's own partial answer: the valid alerts are in, only the invalid one is dead-lettered with its reason", async () => {
    const lines = batchOf('partial');
    const { alertId } = await import('../../src/collector/decode.js');
    const proxy = await startProxy({ invalidId: alertId(lines[1]!) });
    try {
      pipeline = await startPipeline(amConfig(proxy.url));
      expect((await pipeline.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
      const dlq = deadLetters(pipeline.config);
      const [letter] = await waitFor(async () => ((await dlq.list('am')).length > 0 ? dlq.list('am') : undefined), { what: 'the dead letter' });
      expect(letter!.id).toBe(alertId(lines[1]!));
      expect(letter!.reason).toContain('start time must be before end time');
      const inAm = (await amAlerts()).map((a) => a.labels.alertname!).filter((n) => n.startsWith('partial '));
      const rules = lines.map((l) => (JSON.parse(l) as { rule: string }).rule);
      expect(inAm.sort()).toEqual([rules[0], rules[2]].sort());
      expect(await dlq.count('am')).toBe(1);
    } finally {
      await proxy.stop();
    }
  });

  it.skipIf(!BINARY)("a proxy's 400 is a failure: every alert of the batch dead-lettered with the proxy's body in the reason", async () => {
    const lines = batchOf('proxied');
    const proxy = await startProxy({ reject: true });
    try {
      pipeline = await startPipeline(amConfig(proxy.url));
      expect((await pipeline.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
      const dlq = deadLetters(pipeline.config);
      const letters = await waitFor(async () => ((await dlq.list('am')).length === 3 ? dlq.list('am') : undefined), { what: 'three dead letters' });
      for (const l of letters) {
        expect(l.status).toBe(400);
        expect(l.reason).toContain('proxy: client certificate required');
      }
      expect((await amAlerts()).filter((a) => a.labels.alertname!.startsWith('proxied '))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });
});
