import type { Alert } from '../alert/alert.js';
import type { Outcome } from '../delivery/stages/classify.js';
import type { AlertStore, DeliveryStatus, StatusChange, StoreInput } from './store.js';

let warned = false;

function routedItems(alerts: readonly Alert[], byOutput: ReadonlyMap<string, readonly Alert[]>): StoreInput[] {
  const outputsOf = new Map<Alert, string[]>();
  for (const [output, routed] of byOutput) {
    for (const alert of routed) {
      const list = outputsOf.get(alert);
      if (list) list.push(output);
      else outputsOf.set(alert, [output]);
    }
  }
  return alerts.map((alert) => ({ alert, outputs: outputsOf.get(alert) ?? [] }));
}

/**
 * The router's writes to the UI store: every normalised alert of an ingest entry, with the
 * outputs it was routed to, gathered for `windowMs` (or `maxItems`) into one script call. Per
 * entry it was one call per alert at 500 alerts/s, and the script's per-call work (expiries,
 * counters, eviction checks) ran as often (issue #10). The router does not wait for it before
 * delivering; the entry's acknowledgement does, so a crash loses no record.
 * A failing UI write must not hold up delivery: it is reported once and skipped.
 */
export class RoutedWriter {
  private items: StoreInput[] = [];
  private waiting: Array<() => void> = [];
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: AlertStore,
    private readonly windowMs = 10,
    private readonly maxItems = 500,
  ) {}

  /** Resolves once these alerts are written (or the write failed and was reported); never rejects. */
  add(alerts: readonly Alert[], byOutput: ReadonlyMap<string, readonly Alert[]>): Promise<void> {
    if (alerts.length === 0) return Promise.resolve();
    this.items.push(...routedItems(alerts, byOutput));
    const written = new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.items.length >= this.maxItems) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
    return written;
  }

  /** Writes what is gathered now; resolves once every write so far has landed. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const items = this.items;
    const waiting = this.waiting;
    this.items = [];
    this.waiting = [];
    if (items.length === 0) return this.flushing;
    this.flushing = this.flushing.then(async () => {
      try {
        await this.store.add(items);
      } catch (err) {
        if (!warned) process.emitWarning(`falconet: the UI store could not be written (alerts are delivered regardless): ${(err as Error).message}`);
        warned = true;
      }
      for (const resolve of waiting) resolve();
    });
    return this.flushing;
  }
}

const ID_PREFIX = /^\{"id":"([^"\\]+)"/;

/** The alert id at the start of a delivery job's alert JSON (stringifyJson writes `id` first). */
function idOf(text: string): string | undefined {
  return ID_PREFIX.exec(text)?.[1];
}

/** Delivery status per alert from one send's Outcome (src/delivery/deliver.ts calls it after record). */
export function statusesOf(output: string, texts: readonly string[], outcome: Outcome, at: number): Array<{ id: string; output: string; status: DeliveryStatus }> {
  const changes: Array<{ id: string; output: string; status: DeliveryStatus }> = [];
  const settled = new Set<string>();
  for (const d of outcome.dead) {
    settled.add(d.text);
    changes.push({ id: d.id, output, status: { status: 'dead_lettered', attempts: outcome.sends, lastError: d.reason } });
  }
  const retry = outcome.retry;
  if (retry) {
    for (const text of retry.texts) {
      settled.add(text);
      const id = idOf(text);
      if (id) changes.push({ id, output, status: { status: 'retrying', attempts: outcome.sends, lastError: retry.error.message } });
    }
  }
  for (const text of texts) {
    if (settled.has(text)) continue;
    const id = idOf(text);
    if (id) changes.push({ id, output, status: { status: 'delivered', attempts: outcome.sends, deliveredAt: at } });
  }
  return changes;
}

/**
 * Batches status writes from every delivery worker of a process: one script call per flush
 * (every `intervalMs` or `maxPending` changes), never one per alert.
 */
export class StatusWriter {
  private pending: StatusChange[] = [];
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: AlertStore,
    private readonly intervalMs = 100,
    private readonly maxPending = 1000,
    /** Runs before each write: the RoutedWriter's flush, so a status never arrives before its alert is stored (it would be ignored). */
    private readonly before: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /** The delivery hook: never throws, never awaits Redis. */
  record(output: string, texts: readonly string[], outcome: Outcome): void {
    this.pending.push(...statusesOf(output, texts, outcome, Date.now()));
    this.schedule();
  }

  /** Folded into a digest: written only over `pending` (a replayed job's earlier run may have delivered it). */
  suppressed(output: string, ids: readonly string[]): void {
    for (const id of ids) this.pending.push({ id, output, status: { status: 'suppressed', attempts: 0, reason: 'folded into a digest (storm control or overflow)' }, onlyOverPending: true });
    this.schedule();
  }

  private schedule(): void {
    if (this.pending.length >= this.maxPending) void this.flush();
    else if (!this.timer && this.pending.length > 0) this.timer = setTimeout(() => void this.flush(), this.intervalMs);
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing.then(() => this.before().then(() => this.store.setStatuses(batch)).then(() => undefined, () => undefined));
    return this.flushing;
  }
}
