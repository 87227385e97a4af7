// The page's view of /api: the token (if any) kept for the tab only, JSON helpers, the live stream.

const TOKEN_KEY = 'falconet.token';

export class Unauthorized extends Error {}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function setToken(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

const CSRF_KEY = 'falconet.csrf';

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const t = token();
  const csrf = sessionStorage.getItem(CSRF_KEY);
  const out = csrf ? { ...extra, 'x-falconet-csrf': csrf } : extra;
  return t ? { ...out, authorization: `Bearer ${t}` } : out;
}

/** A UI user's login: the server sets an HttpOnly cookie; the CSRF token is kept for this tab. */
export async function login(name: string, password: string): Promise<boolean> {
  const res = await fetch('/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }) });
  if (!res.ok) return false;
  sessionStorage.setItem(CSRF_KEY, ((await res.json()) as { csrf: string }).csrf);
  setToken(null);
  return true;
}

export async function logout(): Promise<void> {
  await fetch('/api/session', { method: 'DELETE', headers: headers() }).catch(() => undefined);
  sessionStorage.removeItem(CSRF_KEY);
  setToken(null);
}

export async function whoami(): Promise<{ name?: string; tenant?: string; open?: boolean }> {
  const res = await fetch('/api/session', { headers: headers() });
  return res.ok ? ((await res.json()) as { name?: string; tenant?: string; open?: boolean }) : {};
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: headers() });
  if (res.status === 401) throw new Unauthorized();
  if (!res.ok) throw new Error(`${res.status}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body: JSON.stringify(body) });
  if (res.status === 401) throw new Unauthorized();
  if (!res.ok) throw new Error(`${res.status}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

export interface Row {
  id: string;
  seq?: string;
  time: string;
  priority: string;
  rule: string;
  source: string;
  hostname?: string;
  namespace?: string;
  tenant?: string;
  tags: string[];
  output?: string;
}

export interface Delivery {
  status: 'pending' | 'delivered' | 'retrying' | 'dead_lettered' | 'suppressed';
  attempts: number;
  lastError?: string;
  deliveredAt?: number;
}

export interface FullAlert extends Row {
  output_fields: Record<string, unknown>;
  outputs: string[];
  deliveries: Record<string, Delivery>;
}

export function rowOf(a: Record<string, any>): Row {
  const f = (a.output_fields ?? {}) as Record<string, unknown>;
  const ns = a.namespace ?? f['k8s.ns.name'] ?? f['ka.target.namespace'] ?? f['k8smeta.ns.name'];
  const tenant = a.tenant ?? f['falconet.tenant'];
  return {
    id: a.id,
    seq: a.seq,
    time: a.time,
    priority: a.priority,
    rule: a.rule,
    source: a.source,
    hostname: a.hostname,
    namespace: typeof ns === 'string' ? ns : undefined,
    tenant: typeof tenant === 'string' ? tenant : undefined,
    tags: Array.isArray(a.tags) ? a.tags : [],
    output: a.output,
  };
}

export type LiveEvent = { type: 'alerts'; alerts: Row[] } | { type: 'deliveries'; items: Array<{ id: string; output: string; delivery: Delivery }> };

/**
 * /api/events read with fetch, not EventSource: fetch sends the Authorization header, so the
 * token never goes into a URL. Reconnects after a pause when the stream ends.
 */
export function live(onEvent: (e: LiveEvent) => void, onState: (connected: boolean) => void): () => void {
  let stopped = false;
  let controller = new AbortController();
  const run = async () => {
    while (!stopped) {
      try {
        const res = await fetch('/api/events', { headers: headers(), signal: controller.signal });
        if (!res.ok || !res.body) throw new Error(String(res.status));
        onState(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
            if (data) onEvent(JSON.parse(data) as LiveEvent);
          }
        }
      } catch {
        // fall through to the pause
      }
      onState(false);
      if (stopped) return;
      await new Promise((r) => setTimeout(r, 2000));
      controller = new AbortController();
    }
  };
  void run();
  return () => {
    stopped = true;
    controller.abort();
  };
}
