import { describe, expect, it } from 'vitest';
import { PRIORITIES } from '../../src/alert/priority.js';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { drained, testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { useRig } from '../helpers/rig.js';

const rig = useRig();
let pipeline: Pipeline | undefined;
let capture: CaptureServer | undefined;

type Body = { rule: string; priority: string; time: string; hostname?: string; source: string; output_fields: Record<string, unknown> };
const key = (a: { rule: string; time: string; hostname?: string }) => `${a.rule}|${a.time}|${a.hostname ?? ''}`;
const received = (path: string) =>
  capture!.requests.filter((r) => r.path === path).map((r) => JSON.parse(r.body) as Body);


describe('priority floors end to end', () => {
  it('the global floor drops less severe alerts; a per-output floor limits that output only', async () => {
    capture = await rig.capture();
    pipeline = await rig.pipeline(
      testConfig({
        minimumPriority: 'warning',
        dedup: { window: 0 },
        outputs: {
          all: { type: 'webhook', url: `${capture.url}/all` },
          pager: { type: 'webhook', url: `${capture.url}/pager`, minimumPriority: 'critical' },
        },
        routes: [{ outputs: ['all', 'pager'] }],
      }),
    );
    // One request, one ingest job: everything routable is enqueued in the same step.
    const batch = PRIORITIES.map((priority) => ({ rule: `rule ${priority}`, priority: priority.toLowerCase(), time: '2025-06-12T08:00:00Z' }));
    expect((await pipeline.post(JSON.stringify(batch), falcoHeaders())).status).toBe(200);
    await waitFor(() => capture!.requests.length >= 8, { what: '8 deliveries' });
    await drained(pipeline, ['all', 'pager']);
    expect(received('/all').map((b) => b.priority).sort()).toEqual(['Alert', 'Critical', 'Emergency', 'Error', 'Warning']);
    expect(received('/pager').map((b) => b.priority).sort()).toEqual(['Alert', 'Critical', 'Emergency']);
    expect(capture.requests).toHaveLength(8);
    expect(await pipeline.queue('all').getJobCounts('failed', 'waiting', 'delayed')).toEqual({ failed: 0, waiting: 0, delayed: 0 });
  });
});

describe('routing by namespace', () => {
  it('team1 → team1 and platform (continue); team2 → team2 only; others → platform; audit alerts by ka.target.namespace', async () => {
    capture = await rig.capture();
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          team1: { type: 'webhook', url: `${capture.url}/team1` },
          team2: { type: 'webhook', url: `${capture.url}/team2` },
          platform: { type: 'webhook', url: `${capture.url}/platform` },
        },
        routes: [
          { name: 'team1', match_any: [{ 'output_fields.k8s.ns.name': 'team1' }, { 'output_fields.ka.target.namespace': 'team1' }], outputs: ['team1'], continue: true },
          { name: 'team2 syscall', match: { 'output_fields.k8s.ns.name': 'team2' }, outputs: ['team2'] },
          { name: 'team2 audit', match: { source: 'k8s_audit', 'output_fields.ka.target.namespace': 'team2' }, outputs: ['team2'] },
          { name: 'catch-all', outputs: ['platform'] },
        ],
      }),
    );
    const lines = [...new Set(fixtureAlertLines())];
    const expected: Record<string, Set<string>> = { '/team1': new Set(), '/team2': new Set(), '/platform': new Set() };
    let auditTeam1 = 0;
    let auditTeam2 = 0;
    for (const line of lines) {
      const a = JSON.parse(line) as Body;
      const ns = a.output_fields?.['k8s.ns.name'] ?? a.output_fields?.['ka.target.namespace'];
      if (a.source === 'k8s_audit' && ns === 'team1') auditTeam1++;
      if (a.source === 'k8s_audit' && ns === 'team2') auditTeam2++;
      if (ns === 'team1') {
        expected['/team1']!.add(key(a));
        expected['/platform']!.add(key(a));
      } else if (ns === 'team2') expected['/team2']!.add(key(a));
      else expected['/platform']!.add(key(a));
    }
    // The fixtures exercise every branch, audit alerts included.
    expect(auditTeam1).toBeGreaterThan(0);
    expect(auditTeam2).toBeGreaterThan(0);
    expect(expected['/team1']!.size).toBeGreaterThan(2);
    for (const line of lines) expect((await pipeline.post(line, falcoHeaders())).status).toBe(200);
    const total = Object.values(expected).reduce((n, s) => n + s.size, 0);
    await waitFor(() => capture!.requests.length >= total, { what: `${total} deliveries` });
    await drained(pipeline, ['team1', 'team2', 'platform']);
    for (const [path, want] of Object.entries(expected)) {
      const got = received(path).map(key);
      expect(got.length, path).toBe(want.size);
      expect(new Set(got), path).toEqual(want);
    }
    // An alert from team1 reached both team1 and platform; one from team2 never reached platform.
    const platform = new Set(received('/platform').map(key));
    expect(received('/team1').every((a) => platform.has(key(a)))).toBe(true);
    expect(received('/team2').some((a) => platform.has(key(a)))).toBe(false);
  });
});
