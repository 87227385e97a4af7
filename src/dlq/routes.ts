import type { Context } from 'koa';
import { readBody } from '../collector/body.js';
import { duration } from '../../outputs/kit/duration.js';
import { DlqRequestError, entryJsonLine, type DlqService } from './service.js';

const BASE = '/api/dlq';
const MAX_REQUEST_BYTES = 1024 * 1024;
const DEFAULT_LIST_LIMIT = 1000;
const MAX_LIST_LIMIT = 100_000;

/**
 * The dead letters over HTTP, for the UI, served by the collector:
 *   GET    /api/dlq?output=NAME&limit=1000    → {count, entries: [...]} (alerts embedded as JSON; oldest first)
 *   POST   /api/dlq/replay {output, ids?}     → {replayed, missing}
 *   DELETE /api/dlq?output=NAME&olderThan=7d  → {purged}
 * Bad input is a 4xx JSON {error, detail} naming the problem.
 *
 * NO AUTHENTICATION YET: whoever reaches the collector's port can read alert contents and replay
 * or purge dead letters. Falconet has no auth layer; until it has, keep the collector port inside
 * the cluster (a NetworkPolicy) and put this path behind the same auth as the UI once it exists.
 *
 * Returns false for every other path, which the collector handles as before.
 */
export function createDlqRoutes(dlq: DlqService) {
  return async (ctx: Context): Promise<boolean> => {
    if (ctx.path !== BASE && !ctx.path.startsWith(`${BASE}/`)) return false;
    try {
      if (ctx.path === BASE && ctx.method === 'GET') await list(ctx);
      else if (ctx.path === BASE && ctx.method === 'DELETE') await purge(ctx);
      else if (ctx.path === `${BASE}/replay` && ctx.method === 'POST') await replay(ctx);
      else if (ctx.path === BASE || ctx.path === `${BASE}/replay`) fail(ctx, 405, 'method_not_allowed', `${ctx.path} accepts ${ctx.path === BASE ? 'GET and DELETE' : 'POST'}`);
      else fail(ctx, 404, 'not_found', `no such dead-letter endpoint: ${ctx.path} (GET/DELETE ${BASE}, POST ${BASE}/replay)`);
    } catch (err) {
      if (err instanceof DlqRequestError) fail(ctx, err.code === 'unknown_output' ? 404 : 400, err.code, err.message);
      else if (err instanceof BadRequest) fail(ctx, 400, 'bad_request', err.message);
      else fail(ctx, 503, 'unavailable', `dead letters could not be read or written: ${(err as Error).message}`);
    }
    return true;
  };

  async function list(ctx: Context): Promise<void> {
    const output = optionalParam(ctx, 'output');
    const rawLimit = optionalParam(ctx, 'limit');
    const limit = rawLimit === undefined ? DEFAULT_LIST_LIMIT : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw new BadRequest(`"limit" must be an integer from 1 to ${MAX_LIST_LIMIT}`);
    const entries = await dlq.list(output, limit);
    // Built as text so each alert is embedded byte for byte (nanosecond integers stay exact).
    ctx.type = 'application/json';
    ctx.body = `{"count":${entries.length},"entries":[${entries.map(entryJsonLine).join(',')}]}`;
  }

  async function replay(ctx: Context): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(await readBody(ctx.req, MAX_REQUEST_BYTES));
    } catch (err) {
      throw new BadRequest(`the body must be JSON {"output": "...", "ids": [...]}: ${(err as Error).message}`);
    }
    const { output, ids } = (body ?? {}) as { output?: unknown; ids?: unknown };
    if (typeof output !== 'string' || output === '') throw new BadRequest('"output" is required, a non-empty string');
    if (ids !== undefined && !(Array.isArray(ids) && ids.every((id) => typeof id === 'string' && id !== ''))) {
      throw new BadRequest('"ids", when given, must be an array of non-empty strings');
    }
    ctx.body = await dlq.replay(output, ids as string[] | undefined);
  }

  async function purge(ctx: Context): Promise<void> {
    const output = optionalParam(ctx, 'output');
    if (output === undefined) throw new BadRequest('"output" is required: DELETE /api/dlq?output=NAME[&olderThan=7d]');
    const raw = optionalParam(ctx, 'olderThan');
    let olderThan: number | undefined;
    if (raw !== undefined) {
      const parsed = duration.safeParse(/^\d+$/.test(raw) ? Number(raw) : raw);
      if (!parsed.success) throw new BadRequest(`"olderThan" is not a duration: "${raw}" (examples: 12h, 7d, or milliseconds)`);
      olderThan = parsed.data;
    }
    ctx.body = { purged: await dlq.purge(output, olderThan) };
  }
}

class BadRequest extends Error {}

function optionalParam(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) throw new BadRequest(`"${name}" is given more than once`);
  if (value === undefined) return undefined;
  if (value === '') throw new BadRequest(`"${name}" is empty`);
  return value;
}

function fail(ctx: Context, status: number, error: string, detail: string): void {
  ctx.status = status;
  ctx.body = { error, detail };
}
