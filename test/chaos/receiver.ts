import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** Hold the answer this long (a request a killed worker never sees answered). */
  delayMs?: number;
}

/**
 * The destination of a chaos run: counts each alert (by the `seq=N` its output text carries)
 * only when it answered 2xx, since a 500 or 429 means "not received" to the sender. `answer`
 * decides each response (switched by the test as the scenario goes).
 */
export class Receiver {
  /** seq → times delivered with a 2xx answer. */
  readonly delivered = new Map<number, number>();
  /** seq → when it was first delivered (ms). */
  readonly firstAt = new Map<number, number>();
  refusedAnswers = 0;
  /** Requests received and not answered yet. */
  pending = 0;
  answer: (seq: number) => Answer = () => ({ status: 200 });
  private server?: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const seqs = [...body.matchAll(/seq=(\d+)/g)].map((m) => Number(m[1]));
        const a = this.answer(seqs[0] ?? -1);
        this.pending++;
        const send = () => {
          this.pending--;
          if (res.destroyed) return;
          if (a.status >= 200 && a.status < 300) {
            const now = Date.now();
            for (const s of seqs) {
              this.delivered.set(s, (this.delivered.get(s) ?? 0) + 1);
              if (!this.firstAt.has(s)) this.firstAt.set(s, now);
            }
          } else {
            this.refusedAnswers++;
          }
          res.writeHead(a.status, a.headers);
          res.end();
        };
        if (a.delayMs) setTimeout(send, a.delayMs);
        else send();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Alerts delivered more than once, counted once per extra delivery. */
  get duplicates(): number {
    let n = 0;
    for (const count of this.delivered.values()) n += count - 1;
    return n;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

/** Falco-shaped alerts: the same rule, host and container again and again, each with its own evt.time and text; every 10th a k8s_audit alert without container fields. */
export function falcoAlert(seq: number): string {
  const ms = Date.UTC(2025, 5, 12, 8) + seq * 7;
  const evtTime = BigInt(ms) * 1000000n + BigInt(seq % 1000); // beyond 2^53, as Falco's are
  const t = new Date(ms).toISOString().replace('Z', `${String(seq % 1000).padStart(6, '0')}Z`);
  if (seq % 10 === 9) {
    return `{"hostname":"falco-k8saudit-7c9f","output":"${t.slice(11, 29)}: Notice Attach/Exec to pod (user=system:serviceaccount:ci:runner pod=api-7d9 ns=team1 action=exec command=sh seq=${seq})","output_fields":{"evt.time":${evtTime},"ka.target.namespace":"team1","ka.target.name":"api-7d9","ka.user.name":"system:serviceaccount:ci:runner","ka.uri":"/api/v1/namespaces/team1/pods/api-7d9/exec?command=sh"},"priority":"Notice","rule":"Attach/Exec Pod","source":"k8s_audit","tags":["k8s"],"time":"${t}"}`;
  }
  return `{"hostname":"ip-10-0-1-17","output":"${t.slice(11, 29)}: Notice A shell was spawned in a container with an attached terminal (user=root container_id=3ad7b26ded6d container_name=api image=registry/api:1.4 shell=bash parent=runc cmdline=bash seq=${seq})","output_fields":{"container.id":"3ad7b26ded6d","container.name":"api","evt.time":${evtTime},"k8s.ns.name":"team1","k8s.pod.name":"api-7d9","proc.cmdline":"bash","proc.name":"bash","user.name":"root"},"priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["container","shell","mitre_execution"],"time":"${t}"}`;
}
