import { PassThrough } from 'node:stream';
import { Cluster } from 'ioredis';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { Alert } from '../alert/alert.js';
import type { RedisClient as Redis } from '../queue/connection.js';
import { visible, type Scope } from './scope.js';
import { indexValues, type AlertStore } from './store.js';

const HEARTBEAT_MS = 15_000;
/** Delivery changes are forwarded to a scoped client only for alerts it was shown: remember this many. */
const SEEN_PER_CLIENT = 5000;
/** Output summaries in /api/events are cut here: the page fetches the whole alert when opened. */
const SUMMARY_OUTPUT_CHARS = 300;
/** Store events waiting to be forwarded, at most (each is one script call's alerts or statuses). */
const MAX_QUEUED_EVENTS = 1000;

interface Client {
  stream: PassThrough;
  scope: Scope;
  seen: Set<string>;
}

export interface AlertSummary {
  seq: string;
  id: string;
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

export function summaryOf(seq: string, alert: Alert): AlertSummary {
  const values = indexValues(alert);
  return {
    seq,
    id: alert.id,
    time: alert.time,
    priority: alert.priority,
    rule: alert.rule,
    source: alert.source,
    hostname: alert.hostname,
    namespace: values.namespace[0],
    tenant: values.tenant[0],
    tags: alert.tags,
    output: alert.output?.slice(0, SUMMARY_OUTPUT_CHARS),
  };
}

type StoreEvent = { type: 'stored'; entries: string[] } | { type: 'deliveries'; items: Array<{ id: string }> };

/**
 * GET /api/events: one Redis subscription per collector, fanned out to every SSE client in its
 * scope. The store publishes only "<seq> <id>" of what it stored; the summaries are read here,
 * once per event for every client, so the write path pays nothing for a view nobody watches
 * (issue #10). Events are handled one at a time in order: a delivery change never overtakes the
 * alert it is about.
 */
export class EventHub {
  private readonly clients = new Set<Client>();
  private sub?: Redis;
  private heartbeat?: NodeJS.Timeout;
  private subscribed?: Promise<unknown>;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private dropping = false;

  constructor(
    private readonly store: AlertStore,
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {}

  async attach(ctx: Context, scope: Scope): Promise<void> {
    // Subscribed before the stream opens: a client sees every event after its 200.
    await this.start();
    const stream = new PassThrough();
    const client: Client = { stream, scope, seen: new Set() };
    this.clients.add(client);
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.type = 'text/event-stream';
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.status = 200;
    ctx.body = stream;
    stream.write(': connected\n\n');
    const drop = () => this.clients.delete(client);
    ctx.req.on('close', drop);
    stream.on('close', drop);
  }

  private start(): Promise<unknown> {
    if (this.subscribed) return this.subscribed;
    // Its own connection (a subscriber can do nothing else), queueing while it connects; it
    // resubscribes by itself after a reconnect.
    const sub: Redis =
      this.redis instanceof Cluster
        ? this.redis.duplicate(undefined, { lazyConnect: false, enableOfflineQueue: true })
        : this.redis.duplicate({ lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.sub = sub;
    sub.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'UI events subscription error'));
    sub.on('message', (_channel: string, message: string) => {
      // Bounded: with the store's reads stuck (Redis slow), later events are dropped, not queued without end.
      if (this.queued >= MAX_QUEUED_EVENTS) {
        if (!this.dropping) this.logger.warn({ queued: this.queued }, 'UI live events dropped: the store is read too slowly');
        this.dropping = true;
        return;
      }
      this.queued++;
      this.queue = this.queue
        .then(() => this.handle(message))
        .catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'UI event not forwarded'))
        .finally(() => {
          this.queued--;
          if (this.queued === 0) this.dropping = false;
        });
    });
    this.subscribed = sub.subscribe(this.store.events).catch((err: unknown) => {
      this.logger.warn({ err: (err as Error).message }, 'could not subscribe to UI events');
      this.subscribed = undefined;
      this.sub = undefined;
      sub.disconnect();
      throw err;
    });
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.stream.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
    return this.subscribed;
  }

  private async handle(message: string): Promise<void> {
    if (this.clients.size === 0) return;
    const event = JSON.parse(message) as StoreEvent;
    if (event.type === 'stored') await this.stored(event.entries);
    else this.deliveries(message, event.items);
  }

  private async stored(entries: string[]): Promise<void> {
    const split = entries.map((e) => {
      const space = e.indexOf(' ');
      return { seq: e.slice(0, space), id: e.slice(space + 1) };
    });
    const records = await this.store.records(split.map((e) => e.id));
    const alerts: AlertSummary[] = [];
    split.forEach(({ seq }, i) => {
      const rec = records[i];
      if (rec) alerts.push(summaryOf(seq, JSON.parse(rec.json) as Alert));
    });
    if (alerts.length === 0) return;
    let all: string | undefined;
    for (const client of this.clients) {
      const { scope } = client;
      if (scope.tenant === undefined && !scope.namespaces) {
        all ??= `data: ${JSON.stringify({ type: 'alerts', alerts })}\n\n`;
        client.stream.write(all);
        continue;
      }
      const shown = alerts.filter((a) => visible(scope, a));
      if (shown.length === 0) continue;
      for (const a of shown) remember(client.seen, a.id);
      client.stream.write(`data: ${JSON.stringify({ type: 'alerts', alerts: shown })}\n\n`);
    }
  }

  private deliveries(message: string, items: Array<{ id: string }>): void {
    for (const client of this.clients) {
      const { scope } = client;
      if (scope.tenant === undefined && !scope.namespaces) {
        client.stream.write(`data: ${message}\n\n`);
        continue;
      }
      const seen = items.filter((i) => client.seen.has(i.id));
      if (seen.length > 0) client.stream.write(`data: ${JSON.stringify({ type: 'deliveries', items: seen })}\n\n`);
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.stream.end();
    this.clients.clear();
    this.sub?.disconnect();
    this.sub = undefined;
    this.subscribed = undefined;
  }
}

function remember(seen: Set<string>, id: string): void {
  seen.add(id);
  if (seen.size > SEEN_PER_CLIENT) seen.delete(seen.values().next().value!);
}
