import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { getJson, live, login, logout, postJson, rowOf, setToken, token, Unauthorized, whoami, type FullAlert, type LiveEvent, type Row } from './api.js';
import { Charts } from './charts.js';

const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];
const RANGES: Record<string, number | undefined> = { '15m': 15 * 60e3, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, all: undefined };
const PAGE = 100;

interface Filters {
  priority: string;
  namespace: string;
  rule: string;
  source: string;
  hostname: string;
  tag: string;
  q: string;
  range: string;
}
const EMPTY: Filters = { priority: '', namespace: '', rule: '', source: '', hostname: '', tag: '', q: '', range: 'all' };

function queryOf(f: Filters): string {
  const p = new URLSearchParams();
  for (const key of ['priority', 'namespace', 'rule', 'source', 'hostname', 'tag', 'q'] as const) if (f[key]) p.set(key, f[key]);
  const span = RANGES[f.range];
  if (span !== undefined) p.set('since', String(Date.now() - span));
  return p.toString();
}

/** The same test the API applies, for alerts arriving on the live stream. */
function matches(r: Row, f: Filters): boolean {
  if (f.priority) {
    const at = f.priority.startsWith('>=') ? PRIORITIES.indexOf(f.priority.slice(2)) : -1;
    const rank = PRIORITIES.indexOf(r.priority);
    if (at >= 0 ? rank > at : r.priority !== f.priority) return false;
  }
  if (f.namespace && r.namespace !== f.namespace) return false;
  if (f.rule && r.rule !== f.rule) return false;
  if (f.source && r.source !== f.source) return false;
  if (f.hostname && r.hostname !== f.hostname) return false;
  if (f.tag && !r.tags.includes(f.tag)) return false;
  if (f.q) {
    const q = f.q.toLowerCase();
    if (!r.rule.toLowerCase().includes(q) && !(r.output ?? '').toLowerCase().includes(q)) return false;
  }
  const span = RANGES[f.range];
  return span === undefined || Date.now() - span <= Date.now();
}

function App() {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [rows, setRows] = useState<Row[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [total, setTotal] = useState(0);
  const [exact, setExact] = useState(true);
  const [selected, setSelected] = useState<string | null>(null);
  const [view, setView] = useState<'alerts' | 'charts' | 'dlq' | 'setup'>('alerts');
  const [connected, setConnected] = useState(false);
  const [needToken, setNeedToken] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [deliveryTick, setDeliveryTick] = useState(0);
  const [who, setWho] = useState<{ name?: string; tenant?: string; open?: boolean }>({});
  useEffect(() => void whoami().then(setWho), [needToken]);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const selectedRef = useRef(selected);
  selectedRef.current = selected;

  const fail = useCallback((err: unknown) => {
    if (err instanceof Unauthorized) setNeedToken(true);
    else setError((err as Error).message);
  }, []);

  // Only the latest query's answer is shown: an earlier one answering late must not overwrite it.
  const generation = useRef(0);
  const load = useCallback(async (f: Filters) => {
    const mine = ++generation.current;
    try {
      const page = await getJson<{ alerts: Record<string, unknown>[]; next: string | null; total: number; totalExact: boolean }>(`/api/alerts?limit=${PAGE}&${queryOf(f)}`);
      if (mine !== generation.current) return;
      setExact(page.totalExact);
      setRows(page.alerts.map(rowOf));
      setNext(page.next);
      setTotal(page.total);
      setError(null);
    } catch (err) {
      fail(err);
    }
  }, [fail]);

  useEffect(() => void load(filters), [filters, load, needToken]);

  useEffect(() => {
    if (needToken) return;
    return live(
      (e: LiveEvent) => {
        if (e.type === 'alerts') {
          const fresh = e.alerts.map(rowOf).filter((r) => matches(r, filtersRef.current)).reverse();
          if (fresh.length === 0) return;
          setRows((old) => {
            const known = new Set(old.map((r) => r.id));
            return [...fresh.filter((r) => !known.has(r.id)), ...old].slice(0, 2000);
          });
          setTotal((t) => t + fresh.length);
        } else if (e.items.some((i) => i.id === selectedRef.current)) setDeliveryTick((n) => n + 1);
      },
      setConnected,
    );
  }, [needToken]);

  const more = async () => {
    if (!next) return;
    try {
      const page = await getJson<{ alerts: Record<string, unknown>[]; next: string | null }>(`/api/alerts?limit=${PAGE}&cursor=${next}&${queryOf(filters)}`);
      setRows((old) => {
        const known = new Set(old.map((r) => r.id));
        return [...old, ...page.alerts.map(rowOf).filter((r) => !known.has(r.id))];
      });
      setNext(page.next);
    } catch (err) {
      fail(err);
    }
  };

  const set = (patch: Partial<Filters>) => setFilters((f) => ({ ...f, ...patch }));

  if (needToken) return <TokenForm onDone={() => setNeedToken(false)} />;
  return (
    <div class="app">
      <header>
        <h1>Falconet</h1>
        <nav aria-label="views">
          {(['alerts', 'charts', 'dlq', 'setup'] as const).map((v) => (
            <button class={view === v ? 'tab active' : 'tab'} aria-pressed={view === v} onClick={() => setView(v)}>
              {v === 'dlq' ? 'Dead letters' : v === 'setup' ? 'Outputs & routes' : v[0]!.toUpperCase() + v.slice(1)}
            </button>
          ))}
        </nav>
        <span class={connected ? 'live on' : 'live'} data-testid="live">{connected ? '● live' : '○ offline'}</span>
        {who.name && <span class="who">{who.name}{who.tenant ? ` (${who.tenant})` : ''}</span>}
        {who.name && <button class="tab" onClick={() => void logout().then(() => (setWho({}), setNeedToken(true)))}>Sign out</button>}
      </header>
      {who.open && <p class="banner" role="note">Open UI: no ui.users and no auth.tokens are configured, so it answers on loopback only.</p>}
      {error && <p class="error" role="alert">{error}</p>}
      {view === 'alerts' && (
        <>
          <FilterBar filters={filters} set={set} />
          <main class="split">
            <section class="list" aria-label="alerts">
              <p class="count" data-testid="count">{exact ? `${total} alert${total === 1 ? '' : 's'}` : `${rows.length}${next ? '+' : ''} shown (of at most ${total})`}</p>
              <ul>
                {rows.map((r) => (
                  <li key={r.id}>
                    <AlertRow row={r} selected={r.id === selected} open={() => setSelected(r.id)} set={set} />
                  </li>
                ))}
              </ul>
              {next && <button onClick={more}>Load older</button>}
            </section>
            {selected && <Detail id={selected} tick={deliveryTick} close={() => setSelected(null)} fail={fail} />}
          </main>
        </>
      )}
      {view === 'charts' && <Charts fail={fail} />}
      {view === 'dlq' && <DeadLetters fail={fail} />}
      {view === 'setup' && <Setup fail={fail} />}
    </div>
  );
}

function TokenForm({ onDone }: { onDone: () => void }) {
  const [value, setValue] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [failed, setFailed] = useState(false);
  const input = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (name) {
      if (await login(name, password)) onDone();
      else setFailed(true);
    } else {
      setToken(value.trim());
      onDone();
    }
  };
  return (
    <form class="token" onSubmit={submit}>
      <h1>Falconet</h1>
      <label>User <input autoComplete="username" value={name} onInput={input(setName)} /></label>
      <label>Password <input type="password" autoComplete="current-password" value={password} onInput={input(setPassword)} /></label>
      <p class="hint">or</p>
      <label>API token <input type="password" value={value} onInput={input(setValue)} /></label>
      <button type="submit">Sign in</button>
      {failed && <p class="error" role="alert">Wrong user or password.</p>}
      <p class="hint">A tenant's user or token shows only its tenant's alerts. A token is kept for this tab only.</p>
    </form>
  );
}

function FilterBar({ filters, set }: { filters: Filters; set: (p: Partial<Filters>) => void }) {
  const [q, setQ] = useState(filters.q);
  useEffect(() => setQ(filters.q), [filters.q]);
  const chips = (['namespace', 'rule', 'source', 'hostname', 'tag'] as const).filter((k) => filters[k]);
  return (
    <form class="filters" role="search" onSubmit={(e) => (e.preventDefault(), set({ q }))}>
      <input type="search" aria-label="search" placeholder="Search rule and output…" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
      <select aria-label="priority" value={filters.priority} onChange={(e) => set({ priority: (e.target as HTMLSelectElement).value })}>
        <option value="">any priority</option>
        {PRIORITIES.map((p) => <option value={`>=${p}`}>≥ {p}</option>)}
        {PRIORITIES.map((p) => <option value={p}>only {p}</option>)}
      </select>
      <select aria-label="time range" value={filters.range} onChange={(e) => set({ range: (e.target as HTMLSelectElement).value })}>
        {Object.keys(RANGES).map((r) => <option value={r}>{r === 'all' ? 'all kept' : `last ${r}`}</option>)}
      </select>
      <input aria-label="namespace" placeholder="namespace" value={filters.namespace} onChange={(e) => set({ namespace: (e.target as HTMLInputElement).value.trim() })} />
      <button type="submit">Search</button>
      {chips.map((k) => (
        <button type="button" class="chip" onClick={() => set({ [k]: '' })} aria-label={`remove filter ${k}`}>
          {k}: {filters[k]} ✕
        </button>
      ))}
    </form>
  );
}

function AlertRow({ row, selected, open, set }: { row: Row; selected: boolean; open: () => void; set: (p: Partial<Filters>) => void }) {
  const pick = (patch: Partial<Filters>) => (e: Event) => (e.stopPropagation(), set(patch));
  return (
    <div class={`row p-${row.priority.toLowerCase()}${selected ? ' selected' : ''}`} data-testid="alert-row" data-id={row.id}>
      <button class="open" onClick={open} aria-label={`open ${row.rule}`}>
        <span class="prio">{row.priority}</span>
        <time>{row.time.replace('T', ' ').slice(0, 23)}</time>
        <span class="output">{row.output ?? row.rule}</span>
      </button>
      <span class="facets">
        <button class="facet" onClick={pick({ rule: row.rule })} title="filter by rule">{row.rule}</button>
        {row.namespace && <button class="facet" onClick={pick({ namespace: row.namespace })} title="filter by namespace">ns: {row.namespace}</button>}
        {row.hostname && <button class="facet" onClick={pick({ hostname: row.hostname })} title="filter by host">{row.hostname}</button>}
        <button class="facet" onClick={pick({ source: row.source })} title="filter by source">{row.source}</button>
      </span>
    </div>
  );
}

function Detail({ id, tick, close, fail }: { id: string; tick: number; close: () => void; fail: (e: unknown) => void }) {
  const [alert, setAlert] = useState<FullAlert | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const refresh = useCallback(() => getJson<FullAlert>(`/api/alerts/${encodeURIComponent(id)}`).then(setAlert, fail), [id, fail]);
  useEffect(() => void refresh(), [refresh, tick]);
  if (!alert) return <aside class="detail">Loading…</aside>;
  const replay = async (output: string) => {
    try {
      const r = await postJson<{ replayed: number }>('/api/dlq/replay', { output, ids: [id] });
      setNote(`${output}: ${r.replayed} replayed`);
      await refresh();
    } catch (err) {
      fail(err);
    }
  };
  return (
    <aside class="detail" aria-label="alert detail" data-testid="detail">
      <button class="close" onClick={close} aria-label="close detail">✕</button>
      <h2 class={`p-${alert.priority.toLowerCase()}`}><span class="prio">{alert.priority}</span> {alert.rule}</h2>
      <p class="output-line">{alert.output}</p>
      <p class="tags">{alert.tags.map((t) => <span class="tag">{t}</span>)}</p>
      <h3>Deliveries</h3>
      {alert.outputs.length === 0 ? <p>Routed to no output.</p> : (
        <table class="deliveries">
          <thead><tr><th>output</th><th>status</th><th>attempts</th><th>detail</th><th /></tr></thead>
          <tbody>
            {alert.outputs.map((o) => {
              const d = alert.deliveries[o];
              return (
                <tr data-testid={`delivery-${o}`}>
                  <td>{o}</td>
                  <td><span class={`status s-${d?.status ?? 'unknown'}`}>{d?.status.replace('_', ' ') ?? 'unknown'}</span></td>
                  <td>{d?.attempts ?? 0}</td>
                  <td class="err">{d?.lastError ?? (d?.deliveredAt ? new Date(d.deliveredAt).toISOString() : '')}</td>
                  <td>{d?.status === 'dead_lettered' && <button onClick={() => replay(o)}>Replay</button>}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {note && <p class="note" role="status">{note}</p>}
      <h3>Fields</h3>
      <table class="fields">
        <tbody>
          {[['time', alert.time], ['source', alert.source], ['hostname', alert.hostname], ['id', alert.id], ...Object.entries(alert.output_fields)].map(([k, v]) => (
            <tr><th>{String(k)}</th><td>{typeof v === 'string' ? v : JSON.stringify(v)}</td></tr>
          ))}
        </tbody>
      </table>
    </aside>
  );
}

interface DeadEntry { id: string; output: string; rule: string; reason: string; attempts: number; lastAttemptAt: number }

function DeadLetters({ fail }: { fail: (e: unknown) => void }) {
  const [entries, setEntries] = useState<DeadEntry[] | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const refresh = useCallback(() => getJson<{ entries: DeadEntry[] }>('/api/dlq?limit=500').then((r) => setEntries(r.entries.reverse()), fail), [fail]);
  useEffect(() => void refresh(), [refresh]);
  const replay = async (output: string, ids?: string[]) => {
    try {
      const r = await postJson<{ replayed: number }>('/api/dlq/replay', { output, ids });
      setNote(`${output}: ${r.replayed} replayed`);
      await refresh();
    } catch (err) {
      fail(err);
    }
  };
  if (!entries) return <p>Loading…</p>;
  const outputs = [...new Set(entries.map((e) => e.output))];
  return (
    <section class="dlq" aria-label="dead letters">
      {note && <p class="note" role="status">{note}</p>}
      {entries.length === 0 ? <p data-testid="dlq-empty">No dead letters.</p> : (
        <>
          <p>{outputs.map((o) => <button onClick={() => replay(o)}>Replay all of {o}</button>)}</p>
          <table>
            <thead><tr><th>output</th><th>rule</th><th>reason</th><th>attempts</th><th>last attempt</th><th /></tr></thead>
            <tbody>
              {entries.map((e) => (
                <tr data-testid="dlq-row">
                  <td>{e.output}</td><td>{e.rule}</td><td class="err">{e.reason}</td><td>{e.attempts}</td>
                  <td>{new Date(e.lastAttemptAt).toISOString()}</td>
                  <td><button onClick={() => replay(e.output, [e.id])}>Replay</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

interface SetupView { outputs: Array<{ name: string; type: string; batchSize: number }>; routes: Array<{ name: string; outputs: string[]; match?: object; match_any?: object[]; not?: object; continue: boolean }> }

/** Outputs and routes as configured: names, types and matchers only (the API sends no output settings). */
function Setup({ fail }: { fail: (e: unknown) => void }) {
  const [setup, setSetup] = useState<SetupView | null>(null);
  useEffect(() => void getJson<SetupView>('/api/setup').then(setSetup, fail), [fail]);
  if (!setup) return <p>Loading…</p>;
  return (
    <section class="dlq" aria-label="outputs and routes">
      <h3>Outputs</h3>
      <table><tbody>{setup.outputs.map((o) => <tr><th>{o.name}</th><td>{o.type}</td><td>{o.batchSize > 1 ? `batches of ${o.batchSize}` : 'one alert per request'}</td></tr>)}</tbody></table>
      <h3>Routes (in order)</h3>
      <table><tbody>{setup.routes.map((r) => (
        <tr><th>{r.name}</th><td><code>{JSON.stringify({ match: r.match, match_any: r.match_any, not: r.not })}</code></td><td>→ {r.outputs.join(', ')}{r.continue ? ' (continue)' : ''}</td></tr>
      ))}</tbody></table>
    </section>
  );
}

render(<App />, document.getElementById('app')!);
