import type { Context } from 'koa';

/** An API route of the collector's Koa app: true when it answered the request. */
export type ApiRoute = ((ctx: Context) => Promise<boolean>) & { close?: () => Promise<unknown> };

/**
 * A route whose module is imported at its first request (`claims`: which requests may be its).
 * The dead-letter API and POST /test?output= bring BullMQ and the delivery code with them, which
 * the ingest path never needs: a collector that never serves them never holds them in memory.
 * A failed import is retried at the next request rather than remembered.
 */
export function lazyRoute(claims: (ctx: Context) => boolean, load: () => Promise<ApiRoute>): ApiRoute & { close(): Promise<void> } {
  let route: Promise<ApiRoute> | undefined;
  const handle = async (ctx: Context): Promise<boolean> => {
    if (!claims(ctx)) return false;
    route ??= load().catch((err: unknown) => {
      route = undefined;
      throw err;
    });
    return (await route)(ctx);
  };
  return Object.assign(handle, {
    async close() {
      const loaded = await route?.catch(() => undefined);
      await loaded?.close?.();
    },
  });
}
