import type { IncomingMessage } from 'node:http';

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads a request body as UTF-8 with a hard size limit. Deliberately lean: no content negotiation
 * or parsing here (koa-bodyparser costs ~25% of ingest throughput, see README "Performance").
 * gzip is accepted for batch senders; Falco itself never compresses.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new BodyTooLargeError(limit);
  const encoding = req.headers['content-encoding'];
  const source: AsyncIterable<Buffer> =
    encoding === 'gzip' ? req.pipe((await import('node:zlib')).createGunzip()) : req;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw new BodyTooLargeError(limit);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
}
