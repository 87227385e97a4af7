import { describeRedis, toolConnection } from '../queue/connection.js';
import type { FalconetConfig } from '../config/load.js';
import { duration } from '../../outputs/kit/duration.js';
import { DlqRequestError, createDlqService, entryJsonLine, type DeadLetterEntry } from '../dlq/service.js';

export const DLQ_USAGE = `usage: falconet dlq <list|replay|purge> [options]

  list    [--output NAME] [--json]      dead letters, oldest first (--json: one object per line)
  replay  --output NAME [--id ID ...]   back on the output's queue (all of the output's without --id)
  purge   --output NAME [--older-than 7d]

NAME is an output, or @router for alerts the router could not process.`;

export interface DlqArgs {
  output?: string;
  id?: string[];
  json?: boolean;
  'older-than'?: string;
}

type Print = (line: string) => void;

/** `falconet dlq …`: exit 0 done, 1 Redis unreachable or ids not found, 2 bad usage. */
export async function runDlqCommand(
  args: readonly string[],
  flags: DlqArgs,
  config: FalconetConfig,
  out: Print = (l) => console.log(l),
  err: Print = (l) => console.error(l),
): Promise<number> {
  const action = args[0];
  if (action !== 'list' && action !== 'replay' && action !== 'purge') {
    err(action ? `falconet dlq: unknown action "${action}"\n\n${DLQ_USAGE}` : DLQ_USAGE);
    return 2;
  }
  if (action !== 'list' && !flags.output) {
    err(`falconet dlq ${action}: --output NAME is required\n\n${DLQ_USAGE}`);
    return 2;
  }
  let olderThan: number | undefined;
  if (flags['older-than'] !== undefined) {
    const parsed = duration.safeParse(flags['older-than']);
    if (!parsed.success) {
      err(`falconet dlq purge: --older-than "${flags['older-than']}" is not a duration (examples: 12h, 7d)`);
      return 2;
    }
    olderThan = parsed.data;
  }

  const redis = toolConnection(config.redis);
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (e) {
    err(`falconet dlq: no Redis answers at ${describeRedis(config.redis)} (${(e as Error).message})`);
    redis.disconnect();
    return 1;
  }
  const dlq = createDlqService(config, redis);
  try {
    if (action === 'list') {
      const entries = await dlq.list(flags.output);
      if (flags.json) for (const e of entries) out(entryJsonLine(e));
      else printTable(entries, out);
      return 0;
    }
    if (action === 'replay') {
      const { replayed, missing } = await dlq.replay(flags.output!, flags.id);
      out(`replayed ${replayed} dead letter${replayed === 1 ? '' : 's'} of ${flags.output}`);
      if (missing.length > 0) err(`not in the dead letters of ${flags.output}: ${missing.join(', ')}`);
      return missing.length > 0 ? 1 : 0;
    }
    const removed = await dlq.purge(flags.output!, olderThan);
    out(`purged ${removed} dead letter${removed === 1 ? '' : 's'} of ${flags.output}`);
    return 0;
  } catch (e) {
    if (!(e instanceof DlqRequestError)) throw e;
    err(`falconet dlq: ${e.message}`);
    return 2;
  } finally {
    await dlq.close();
    redis.disconnect();
  }
}

function printTable(entries: DeadLetterEntry[], out: Print): void {
  if (entries.length === 0) {
    out('no dead letters');
    return;
  }
  const rows = entries.map((e) => [
    e.output,
    e.id,
    String(e.attempts),
    new Date(e.lastAttemptAt).toISOString(),
    e.rule + (e.alerts !== undefined ? ` (${e.alerts} alerts)` : ''),
    e.reason.replace(/\s+/g, ' ').slice(0, 160),
  ]);
  const header = ['OUTPUT', 'ID', 'ATTEMPTS', 'LAST ATTEMPT', 'RULE', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  out(line(header));
  for (const r of rows) out(line(r));
}
