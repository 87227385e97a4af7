import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { REDIS_URL } from '../helpers/harness.js';
import { falconetProcess, useProcessRig, writeYaml } from '../helpers/procs.js';
import { waitFor } from '../helpers/wait.js';

const { tmp, procs, captures, newPrefix } = useProcessRig('reload');

const seqOf = (body: string) => Number(/^seq (\d+)$/.exec((JSON.parse(body) as { output: string }).output)![1]);

describe('hot reload under steady traffic', () => {
  it('SIGHUP with a changed route moves new alerts to the new output, none lost or duplicated; a broken config is refused and traffic continues', async () => {
    const a = await new CaptureServer().start();
    const b = await new CaptureServer().start();
    captures.push(a, b);
    const prefix = newPrefix();
    const base = {
      listen: { host: '127.0.0.1', port: 0 },
      redis: { url: REDIS_URL, prefix, embedded: false },
      spool: { dir: join(tmp, 'spool') },
      worker: { metricsPort: 0 },
    };
    const path = join(tmp, 'falconet.yaml');
    writeYaml(tmp, { ...base, outputs: { a: { type: 'webhook', url: `${a.url}/a` } }, routes: [{ outputs: ['a'] }] }, path);
    const collector = falconetProcess('collector', path, procs);
    const worker = falconetProcess('worker', path, procs);
    const url = `http://127.0.0.1:${await collector.port('collector listening')}`;
    const workerUrl = `http://127.0.0.1:${await worker.port('worker metrics listening')}`;
    await waitFor(() => worker.stderr().includes('worker started'), { timeoutMs: 30_000, what: 'worker started' });

    // Steady traffic: one alert after another, as a Falco node sends them, each its own event.
    let sent = 0;
    let stop = false;
    const start = Date.now();
    const traffic = (async () => {
      while (!stop && sent < 3000) {
        const body = JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', hostname: 'node-1', time: new Date(start + sent).toISOString(), output: `seq ${sent}`, output_fields: { 'container.id': 'c1' } });
        const res = await fetch(url, { method: 'POST', headers: falcoHeaders(), body });
        expect(res.status).toBe(200);
        sent++;
        await new Promise((r) => setTimeout(r, 3));
      }
    })();

    await waitFor(() => a.requests.length >= 50, { timeoutMs: 30_000, what: 'traffic reaching output a' });
    // The route now goes to a new output b; a is removed (its queue drains first).
    writeYaml(tmp, { ...base, outputs: { b: { type: 'webhook', url: `${b.url}/b` } }, routes: [{ outputs: ['b'] }] }, path);
    worker.child.kill('SIGHUP');
    collector.child.kill('SIGHUP');
    await waitFor(() => worker.stderr().includes('"msg":"config reloaded"'), { timeoutMs: 30_000, what: 'worker reloaded' });
    const movedFrom = sent; // every alert sent from here on was accepted after the new routes ran
    await waitFor(() => collector.stderr().includes('"msg":"config reloaded"'), { timeoutMs: 30_000, what: 'collector reloaded' });
    await waitFor(() => b.requests.length >= 50, { timeoutMs: 30_000, what: 'traffic reaching output b' });
    await waitFor(() => worker.stderr().includes('removed output drained'), { timeoutMs: 30_000, what: 'output a drained' });

    // A broken config: refused with its key path, the running one stays, traffic goes on to b.
    writeYaml(tmp, { ...base, outputs: { b: { type: 'webhook', url: `${b.url}/b` } }, routes: [{ outputs: ['nowhere'] }] }, path);
    worker.child.kill('SIGHUP');
    await waitFor(() => worker.stderr().includes('config reload refused'), { timeoutMs: 30_000, what: 'reload refused' });
    expect(worker.stderr()).toContain('routes[0].outputs[0]: output \\"nowhere\\" is not defined under outputs');
    const refused = await fetch(`${workerUrl}/-/reload`, { method: 'POST' });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { errors: string[] }).errors).toEqual(['routes[0].outputs[0]: output "nowhere" is not defined under outputs']);
    const afterRefusal = b.requests.length;
    await waitFor(() => b.requests.length >= afterRefusal + 50, { timeoutMs: 30_000, what: 'traffic continuing after the refusal' });
    stop = true;
    await traffic;

    // Every alert delivered exactly once (counted by its sequence number), those after the reload to b only.
    await waitFor(() => a.requests.length + b.requests.length >= sent, { timeoutMs: 30_000, what: 'every alert delivered' });
    const seqA = a.requests.map((r) => seqOf(r.body));
    const seqB = b.requests.map((r) => seqOf(r.body));
    const all = [...seqA, ...seqB].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(seqA.filter((s) => s >= movedFrom)).toEqual([]);
    expect(seqA.length).toBeGreaterThanOrEqual(50);
    const metrics = await (await fetch(`${workerUrl}/metrics`)).text();
    expect(metrics).toMatch(/^falconet_config_reloads_total\{result="success"\} 1$/m);
    expect(metrics).toMatch(/^falconet_config_reloads_total\{result="failure"\} 2$/m);
    expect(metrics).toMatch(/^falconet_config_last_reload_successful 0$/m);

    // Neither process ended on SIGHUP; both stop gracefully.
    expect(worker.child.exitCode).toBeNull();
    expect(collector.child.exitCode).toBeNull();
    worker.child.kill('SIGTERM');
    collector.child.kill('SIGTERM');
    expect(await Promise.all([worker.exit, collector.exit])).toEqual([0, 0]);
    console.log(`reload under traffic: ${sent} alerts, ${seqA.length} to a before the reload, ${seqB.length} to b`);
  }, 180_000);
});
