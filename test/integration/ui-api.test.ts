import { describe, expect, it } from 'vitest';
import { falcoHeaders } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const rig = useRig();

interface Spec {
  rule?: string;
  priority?: string;
  ns?: string;
  host?: string;
  tags?: string[];
  output?: string;
  source?: string;
}

let counter = 0;
/** A Falco alert as sent: its own time and output text; k8s_audit ones carry ka.target.namespace and no container. */
function falco(s: Spec = {}): string {
  const n = ++counter;
  const source = s.source ?? 'syscall';
  const fields: Record<string, unknown> =
    source === 'k8s_audit'
      ? { 'ka.target.namespace': s.ns, 'ka.user.name': 'system:serviceaccount:x' }
      : { 'container.id': 'c0ffee', 'proc.cmdline': 'bash -i', ...(s.ns ? { 'k8s.ns.name': s.ns, 'k8s.pod.name': `pod-${n}` } : {}) };
  const time = new Date(Date.UTC(2026, 11, 1, 12, 0, 0) + n).toISOString().replace('Z', '123456Z');
  return JSON.stringify({
    hostname: s.host ?? 'node-1',
    output: s.output ?? `12:00:00.${n}: ${s.priority ?? 'Warning'} Shell spawned (user=root #${n})`,
    output_fields: fields,
    priority: s.priority ?? 'Warning',
    rule: s.rule ?? 'Terminal shell in container',
    source,
    tags: s.tags ?? ['container', 'shell'],
    time,
  });
}

function doc(sinkUrl: string, extra: Record<string, unknown> = {}) {
  return {
    dedup: { window: 0 },
    outputs: { hook: { type: 'webhook', url: `${sinkUrl}/hook`, retry: { attempts: 3, backoff: '50ms', maxBackoff: '100ms' } } },
    routes: [{ outputs: ['hook'] }],
    ...extra,
  };
}

type Listed = { alerts: Array<Record<string, any>>; next: string | null; total: number };

async function api(p: Pipeline, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${p.collector.url}${path}`, { headers });
}
async function list(p: Pipeline, query: string, headers: Record<string, string> = {}): Promise<Listed> {
  const res = await api(p, `/api/alerts?${query}`, headers);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Listed;
}
async function postAll(p: Pipeline, bodies: string[], headers = falcoHeaders()): Promise<void> {
  for (const body of bodies) expect((await p.post(body, headers)).status).toBe(200);
}
async function storedCount(p: Pipeline, n: number, headers: Record<string, string> = {}): Promise<void> {
  await waitFor(async () => (await list(p, 'limit=1', headers)).total >= n, { timeoutMs: 20_000, what: `${n} alerts in the store` });
}
const outputs = (l: Listed) => l.alerts.map((a) => a.output as string).sort();

/** GET /api/events read as the page reads it; events() parses what arrived so far. */
function liveStream(p: Pipeline, headers: Record<string, string>) {
  const controller = new AbortController();
  let text = '';
  let reading: Promise<void> = Promise.resolve();
  const open = fetch(`${p.collector.url}/api/events`, { headers, signal: controller.signal }).then((res) => {
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })();
  });
  return {
    open,
    events: (): Array<Record<string, any>> => text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6))),
    close: async () => {
      controller.abort();
      await reading;
    },
  };
}

describe('UI API: /api/alerts filters, paging, detail, stats, export, events', () => {
  it('every filter selects exactly the alerts it names, newest first', async () => {
    const sink = await rig.capture();
    const p = await rig.pipeline(testConfig(doc(sink.url)));
    const bodies = [
      falco({ priority: 'Critical', ns: 'team-a', host: 'node-a', output: 'crit-a' }),
      falco({ priority: 'Error', ns: 'team-a', output: 'err-a', tags: ['mitre_execution'] }),
      falco({ priority: 'Warning', ns: 'team-b', host: 'node-b', output: 'warn-b' }),
      falco({ priority: 'Notice', ns: 'team-b', rule: 'Read sensitive file', output: 'notice-b', tags: ['filesystem'] }),
      falco({ priority: 'Informational', source: 'k8s_audit', ns: 'team-c', rule: 'K8s Secret Get', output: 'info-audit-c', tags: ['k8s'] }),
      falco({ priority: 'Debug', rule: 'Read sensitive file', output: 'debug-none', source: 'aws_cloudtrail', tags: [] }),
    ];
    await postAll(p, bodies);
    await storedCount(p, bodies.length);

    const all = await list(p, '');
    expect(all.total).toBe(6);
    // Newest first by storage sequence (separate POSTs may be routed by concurrent jobs in either order).
    expect(outputs(all)).toEqual(['crit-a', 'debug-none', 'err-a', 'info-audit-c', 'notice-b', 'warn-b']);
    const seqs = all.alerts.map((a) => Number(a.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(new Set(seqs).size).toBe(6);
    expect(all.next).toBeNull();
    expect(outputs(await list(p, 'priority=>=warning'))).toEqual(['crit-a', 'err-a', 'warn-b']);
    expect(outputs(await list(p, 'priority=error'))).toEqual(['err-a']);
    expect(outputs(await list(p, 'priority=Notice,Debug'))).toEqual(['debug-none', 'notice-b']);
    expect(outputs(await list(p, 'rule=Read%20sensitive%20file'))).toEqual(['debug-none', 'notice-b']);
    expect(outputs(await list(p, 'source=k8s_audit'))).toEqual(['info-audit-c']);
    expect(outputs(await list(p, 'source=aws_cloudtrail'))).toEqual(['debug-none']);
    expect(outputs(await list(p, 'hostname=node-b'))).toEqual(['warn-b']);
    expect(outputs(await list(p, 'namespace=team-a'))).toEqual(['crit-a', 'err-a']);
    expect(outputs(await list(p, 'namespace=team-c'))).toEqual(['info-audit-c']);
    expect(outputs(await list(p, 'namespace=team-a&namespace=team-b'))).toEqual(['crit-a', 'err-a', 'notice-b', 'warn-b']);
    expect(outputs(await list(p, 'tag=filesystem'))).toEqual(['notice-b']);
    expect(outputs(await list(p, 'tag=shell&priority=>=error'))).toEqual(['crit-a']);
    expect(outputs(await list(p, 'namespace=team-b&priority=>=warning'))).toEqual(['warn-b']);
    expect((await list(p, 'namespace=nope')).alerts).toEqual([]);
    // Time range: storage time; `until` before everything finds nothing, `since` in the future nothing.
    expect((await list(p, `until=${Date.now() - 3_600_000}`)).alerts).toEqual([]);
    expect((await list(p, `since=${Date.now() + 3_600_000}`)).alerts).toEqual([]);
    expect((await list(p, `since=${new Date(Date.now() - 3_600_000).toISOString()}`)).total).toBe(6);
    const bad = await api(p, '/api/alerts?priority=>=loud');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toContain('unknown priority');
    expect((await api(p, '/api/alerts?limit=0')).status).toBe(400);
    expect((await api(p, '/api/alerts?cursor=abc')).status).toBe(400);
  }, 60_000);

  it('tenant filter: alerts stamped by the posting token', async () => {
    const sink = await rig.capture();
    const tokens = [
      { name: 'falco-a', token: 'a'.repeat(32), tenant: 'team-a', namespaces: ['team-a'] },
      { name: 'falco-b', token: 'b'.repeat(32), tenant: 'team-b', namespaces: ['team-b'] },
      { name: 'platform', token: 'p'.repeat(32) },
    ];
    const p = await rig.pipeline(testConfig(doc(sink.url, { auth: { tokens } })));
    const as = (t: string) => ({ authorization: `Bearer ${t.repeat(32)}` });
    await postAll(p, [falco({ ns: 'team-a', output: 'a1' }), falco({ ns: 'team-a', output: 'a2' })], { ...falcoHeaders(), ...as('a') });
    await postAll(p, [falco({ ns: 'team-b', output: 'b1' })], { ...falcoHeaders(), ...as('b') });
    await storedCount(p, 3, as('p'));

    // Unauthenticated: 401 on every UI endpoint.
    for (const path of ['/api/alerts', '/api/stats', '/api/events', '/api/export', '/api/alerts/x']) {
      const res = await api(p, path);
      expect(res.status, path).toBe(401);
      // Bearer only: a Basic challenge would open the browser's password dialog over the page.
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="falconet"');
    }
    // The platform (a token without tenant) sees all and may filter by tenant.
    expect(outputs(await list(p, '', as('p')))).toEqual(['a1', 'a2', 'b1']);
    expect(outputs(await list(p, 'tenant=team-b', as('p')))).toEqual(['b1']);
    // A tenant sees only its own, whatever it asks for.
    expect(outputs(await list(p, '', as('a')))).toEqual(['a1', 'a2']);
    expect((await list(p, 'tenant=team-b', as('a'))).alerts).toEqual([]);
    expect((await list(p, 'namespace=team-b', as('a'))).alerts).toEqual([]);
    const bId = (await list(p, 'tenant=team-b', as('p'))).alerts[0]!.id as string;
    expect((await api(p, `/api/alerts/${bId}`, as('a'))).status).toBe(404);
    expect((await api(p, `/api/alerts/${bId}`, as('b'))).status).toBe(200);
    const exported = await (await api(p, '/api/export?format=ndjson', as('a'))).text();
    expect(exported.trim().split('\n').map((l) => JSON.parse(l).output).sort()).toEqual(['a1', 'a2']);
    // Dead letters and the setup are the platform's: a tenant token gets 403, the platform 200.
    expect((await api(p, '/api/dlq', as('a'))).status).toBe(403);
    expect((await api(p, '/api/setup', as('a'))).status).toBe(403);
    expect((await api(p, '/api/dlq', as('p'))).status).toBe(200);
    const setup = (await (await api(p, '/api/setup', as('p'))).json()) as Record<string, any>;
    expect(setup.outputs).toEqual([{ name: 'hook', type: 'webhook', batchSize: 1 }]);
    expect(JSON.stringify(setup)).not.toContain(sink.url);
    const stats = (await (await api(p, '/api/stats', as('b'))).json()) as { total: number };
    expect(stats.total).toBe(1);
    const platformStats = (await (await api(p, '/api/stats', as('p'))).json()) as { total: number };
    expect(platformStats.total).toBe(3);

    // The live stream is scoped too: team-a's stream carries team-a's new alerts and their
    // delivery status, nothing of team-b's; the platform's carries both.
    const streams = { a: liveStream(p, as('a')), p: liveStream(p, as('p')) };
    await Promise.all(Object.values(streams).map((s) => s.open));
    await postAll(p, [falco({ ns: 'team-b', output: 'b-live' })], { ...falcoHeaders(), ...as('b') });
    await postAll(p, [falco({ ns: 'team-a', output: 'a-live' })], { ...falcoHeaders(), ...as('a') });
    const aLive = await waitFor(async () => (await list(p, '', as('a'))).alerts.find((a) => a.output === 'a-live'), { what: 'a-live stored' });
    const bLive = (await list(p, 'tenant=team-b', as('p'))).alerts.find((a) => a.output === 'b-live')!;
    await waitFor(() => streams.p.events().some((e) => e.type === 'deliveries' && e.items.some((i: any) => i.id === aLive.id)) && streams.p.events().some((e) => e.type === 'deliveries' && e.items.some((i: any) => i.id === bLive.id)), { what: 'both delivered, on the platform stream' });
    await waitFor(() => streams.a.events().some((e) => e.type === 'deliveries' && e.items.some((i: any) => i.id === aLive.id)), { what: "a-live's delivery on team-a's stream" });
    const liveAlerts = (s: ReturnType<typeof liveStream>) => s.events().filter((e) => e.type === 'alerts').flatMap((e) => e.alerts.map((a: any) => a.output));
    expect(liveAlerts(streams.p).sort()).toEqual(['a-live', 'b-live']);
    expect(liveAlerts(streams.a)).toEqual(['a-live']);
    const aText = JSON.stringify(streams.a.events());
    expect(aText).not.toContain(bLive.id);
    expect(aText).not.toContain('b-live');
    // A summary, as the page shows it before opening the alert.
    const summary = streams.a.events().find((e) => e.type === 'alerts')!.alerts[0];
    expect(summary).toMatchObject({ id: aLive.id, seq: aLive.seq, tenant: 'team-a', namespace: 'team-a', priority: aLive.priority, rule: aLive.rule });
    for (const s of Object.values(streams)) await s.close();
  }, 60_000);

  it('free text is a plain substring over rule and output: -, quotes, :, non-ASCII, regex characters', async () => {
    const sink = await rig.capture();
    const p = await rig.pipeline(testConfig(doc(sink.url)));
    const texts = [
      'File below /etc opened by kube-proxy (user=root command="cat /etc/shadow")',
      'Utilisateur « élodie » a lancé bash — 日本語 の テスト',
      'Outbound connection to 10.0.0.1:4444 (proc=nc.*)',
      'nothing interesting here',
    ];
    await postAll(p, texts.map((output) => falco({ output })));
    await storedCount(p, texts.length);
    const q = async (s: string) => outputs(await list(p, `q=${encodeURIComponent(s)}`));
    expect(await q('kube-proxy')).toEqual([texts[0]]);
    expect(await q('-proxy')).toEqual([texts[0]]);
    expect(await q('command="cat')).toEqual([texts[0]]);
    expect(await q('ÉLODIE')).toEqual([texts[1]]);
    expect(await q('日本語')).toEqual([texts[1]]);
    expect(await q('«')).toEqual([texts[1]]);
    expect(await q(':4444')).toEqual([texts[2]]);
    expect(await q('nc.*')).toEqual([texts[2]]);
    expect(await q('.*')).toEqual([texts[2]]);
    expect(await q('terminal shell')).toHaveLength(4); // the rule name
    expect(await q('"; DROP')).toEqual([]);
  }, 60_000);

  it('cursor paging: no alert missed or repeated across pages while new ones arrive', async () => {
    const sink = await rig.capture();
    const p = await rig.pipeline(testConfig(doc(sink.url)));
    const first = Array.from({ length: 230 }, (_, i) => falco({ output: `old ${i}`, ns: i % 2 ? 'team-a' : 'team-b' }));
    await p.post(first.join('\n'), falcoHeaders('application/x-ndjson'));
    await storedCount(p, 230);
    for (const filter of ['', 'namespace=team-a']) {
      const seen: string[] = [];
      let cursor: string | null = '';
      let pages = 0;
      while (cursor !== null) {
        const page: Listed = await list(p, `limit=40&${filter}${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...page.alerts.map((a) => a.output as string));
        cursor = page.next;
        // New alerts arrive between pages.
        await p.post(falco({ output: `new ${pages}`, ns: 'team-a' }), falcoHeaders());
        pages++;
      }
      const expected = filter === '' ? 230 : 115;
      expect(seen.filter((o) => o.startsWith('old'))).toHaveLength(expected);
      expect(new Set(seen).size).toBe(seen.length);
      // Newest first: "old 229" before "old 0".
      const olds = seen.filter((o) => o.startsWith('old')).map((o) => Number(o.split(' ')[1]));
      expect(olds).toEqual([...olds].sort((a, b) => b - a));
    }
  }, 90_000);

  it('one alert: delivery status per output (delivered, dead-lettered with the error); export ndjson and csv; stats; events', async () => {
    const ok = await rig.capture();
    const broken = await rig.capture();
    broken.fallback = { status: 400, body: '{"error":"mapper_parsing_exception: field [x]"}' };
    const p = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          good: { type: 'webhook', url: `${ok.url}/hook` },
          bad: { type: 'webhook', url: `${broken.url}/hook`, retry: { attempts: 2, backoff: '50ms', maxBackoff: '50ms' } },
        },
        routes: [{ match: { priority: '>=warning' }, outputs: ['good', 'bad'] }],
      }),
    );
    // The live stream, read as the page reads it.
    const controller = new AbortController();
    const events = await fetch(`${p.collector.url}/api/events`, { signal: controller.signal });
    expect(events.headers.get('content-type')).toContain('text/event-stream');
    const reader = events.body!.getReader();
    let streamed = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        streamed += new TextDecoder().decode(value);
      }
    })();

    await postAll(p, [falco({ priority: 'Critical', output: 'routed, "quoted", twice' }), falco({ priority: 'Debug', output: 'below every route' })]);
    await storedCount(p, 2);
    const both = (await list(p, '')).alerts;
    const crit = both.find((a) => a.priority === 'Critical');
    const low = both.find((a) => a.priority === 'Debug');
    expect(crit!.outputs).toEqual(['good', 'bad']);
    expect(low!.outputs).toEqual([]);
    const detail = await waitFor(async () => {
      const d = (await (await api(p, `/api/alerts/${crit!.id}`)).json()) as Record<string, any>;
      return d.deliveries.good.status === 'delivered' && d.deliveries.bad.status === 'dead_lettered' ? d : undefined;
    }, { timeoutMs: 20_000, what: 'delivery status of both outputs' });
    expect(detail.deliveries.good).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(typeof detail.deliveries.good.deliveredAt).toBe('number');
    expect(detail.deliveries.bad.lastError).toContain('mapper_parsing_exception');
    expect(detail.output_fields['container.id']).toBe('c0ffee');
    expect((await api(p, '/api/alerts/nope')).status).toBe(404);

    await waitFor(() => streamed.includes('"type":"alerts"') && streamed.includes('"type":"deliveries"') && streamed.includes('dead_lettered'), { what: 'new alerts and status changes on /api/events' });
    expect(streamed).toContain(crit!.id);
    controller.abort();
    await reading;

    const ndjson = await (await api(p, '/api/export?format=ndjson')).text();
    expect(ndjson.trim().split('\n').map((l) => JSON.parse(l).output).sort()).toEqual(['below every route', 'routed, "quoted", twice']);
    const csv = await (await api(p, '/api/export?format=csv&priority=critical')).text();
    expect(csv.split('\r\n')[0]).toBe('time,priority,rule,source,hostname,namespace,tenant,tags,output,id');
    expect(csv).toContain('"routed, ""quoted"", twice"');
    expect(csv.trim().split('\r\n')).toHaveLength(2);

    const stats = (await (await api(p, '/api/stats')).json()) as Record<string, any>;
    expect(stats.total).toBe(2);
    expect(stats.byPriority).toEqual({ Critical: 1, Debug: 1 });
    expect(stats.topRules).toEqual([{ name: 'Terminal shell in container', count: 2 }]);
    expect(stats.bySource).toEqual([{ name: 'syscall', count: 2 }]);
    expect(stats.overTime.reduce((n: number, b: { counts: Record<string, number> }) => n + Object.values(b.counts).reduce((a, c) => a + c, 0), 0)).toBe(2);
  }, 60_000);

  it('alerts folded by storm control show as suppressed for that output, delivered for the others', async () => {
    const sink = await rig.capture();
    const p = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          chat: { type: 'webhook', url: `${sink.url}/chat`, dedup: { window: '1h', key: ['rule'] } },
          archive: { type: 'webhook', url: `${sink.url}/archive` },
        },
        routes: [{ outputs: ['chat', 'archive'] }],
      }),
    );
    await postAll(p, [1, 2, 3].map((n) => falco({ output: `storm ${n}` })));
    await storedCount(p, 3);
    const listed = (await list(p, '')).alerts;
    const statuses = await waitFor(async () => {
      const all = await Promise.all(listed.map(async (a) => ((await (await api(p, `/api/alerts/${a.id}`)).json()) as { output: string; deliveries: Record<string, { status: string }> })));
      const settled = all.every((d) => d.deliveries.archive?.status === 'delivered' && d.deliveries.chat?.status !== 'pending');
      return settled ? all : undefined;
    }, { timeoutMs: 20_000, what: 'every status settled' });
    const chat = statuses.map((d) => d.deliveries.chat!.status).sort();
    // The first of the storm goes out; the repeats are folded into the digest.
    expect(chat).toEqual(['delivered', 'suppressed', 'suppressed']);
  }, 60_000);
});

