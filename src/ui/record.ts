import type { Alert } from '../alert/alert.js';
import type { Outcome } from '../delivery/stages/classify.js';
import type { AlertStore, DeliveryStatus, StatusChange, StoreInput } from './store.js';
import { WriteBatcher } from './batcher.js';

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
  private readonly batcher: WriteBatcher<StoreInput>;

  constructor(store: AlertStore, windowMs = 10, maxItems = 500) {
    this.batcher = new WriteBatcher(async (items) => {
      try {
        await store.add(items);
      } catch (err) {
        if (!warned) process.emitWarning(`falconet: the UI store could not be written (alerts are delivered regardless): ${(err as Error).message}`);
        warned = true;
      }
    }, windowMs, maxItems);
  }

  /** Resolves once these alerts are written (or the write failed and was reported); never rejects. */
  add(alerts: readonly Alert[], byOutput: ReadonlyMap<string, readonly Alert[]>): Promise<void> {
    return this.batcher.add(routedItems(alerts, byOutput));
  }

  /** Writes what is gathered now; resolves once every write so far has landed. */
  flush(): Promise<void> {
    return this.batcher.flush();
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
  private readonly batcher: WriteBatcher<StatusChange>;

  constructor(
    store: AlertStore,
    intervalMs = 100,
    maxPending = 1000,
    /** Runs before each write: the RoutedWriter's flush, so a status never arrives before its alert is stored (it would be ignored). */
    before: () => Promise<void> = () => Promise.resolve(),
  ) {
    this.batcher = new WriteBatcher(async (batch) => {
      await before();
      await store.setStatuses(batch);
    }, intervalMs, maxPending);
  }

  /** The delivery hook: never throws, never awaits Redis. */
  record(output: string, texts: readonly string[], outcome: Outcome): void {
    void this.batcher.add(statusesOf(output, texts, outcome, Date.now()));
  }

  /** Folded into a digest: written only over `pending` (a replayed job's earlier run may have delivered it). */
  suppressed(output: string, ids: readonly string[]): void {
    void this.batcher.add(ids.map((id) => ({ id, output, status: { status: 'suppressed', attempts: 0, reason: 'folded into a digest (storm control or overflow)' }, onlyOverPending: true })));
  }

  flush(): Promise<void> {
    return this.batcher.flush();
  }
}
