import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import { Readable } from 'node:stream';

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** A body that cannot be read as text: the collector answers `status` with `code` and `detail`. */
export class BadBodyError extends Error {
  constructor(
    readonly status: 400 | 415,
    readonly code: 'bad_encoding' | 'unsupported_encoding' | 'invalid_utf8',
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'BadBodyError';
  }
}

/**
 * Reads a request body as UTF-8 with a hard size limit on the bytes after decompression, so a
 * gzip bomb stops at `limit` (413) whatever its ratio. Deliberately lean: no content negotiation
 * or parsing here (koa-bodyparser costs ~25% of ingest throughput, see README "Performance").
 * gzip and deflate are accepted for batch senders; Falco itself never compresses.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new BodyTooLargeError(limit);
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  let body: Buffer;
  if (encoding === 'identity' || encoding === '') body = await collectRequest(req, limit);
  else if (encoding === 'gzip' || encoding === 'x-gzip') body = await decompress(req, limit, true);
  else if (encoding === 'deflate') body = await decompress(req, limit, false);
  else throw new BadBodyError(415, 'unsupported_encoding', `Content-Encoding ${JSON.stringify(encoding).slice(0, 40)} is not supported; use gzip, deflate or none`);
  if (!isUtf8(body)) {
    throw new BadBodyError(400, 'invalid_utf8', `the body is not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8(body)})`);
  }
  return body.toString('utf8');
}

/**
 * The body of an uncompressed request, from its 'data' events: every ingest request passes here,
 * and the stream's async iterator (what `collect` uses) costs a generator, a promise per chunk
 * and end-of-stream listeners per request (~4% of the collector's CPU at 500 alerts/s, profiled).
 * Same outcomes as `collect(req)`: over the limit the rest is read and dropped (so the 413 can be
 * sent and the connection kept); a client that leaves mid-body rejects with the request's error.
 */
function collectRequest(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.resume();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    // Destroyed without an error (no 'end' will come): what the iterator reports as a premature close.
    const onClose = () => {
      done();
      reject(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

async function collect(source: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > limit) {
      if (source instanceof Readable) source.resume();
      throw new BodyTooLargeError(limit);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/**
 * Streams the body through the decoder, counting decoded bytes; stops at the limit. `deflate`
 * senders disagree on zlib-wrapped (RFC 9110) or raw deflate: the first byte tells them apart.
 */
async function decompress(req: IncomingMessage, limit: number, gzip: boolean): Promise<Buffer> {
  const first = await firstChunk(req);
  if (!first) return Buffer.alloc(0);
  const decoder = gzip ? createGunzip() : isZlibHeader(first) ? createInflate() : createInflateRaw();
  // pipe, not the request's async iterator: that one would keep the request paused after a refusal,
  // and a paused request never sees its client leave, so the connection would never close.
  const aborted = () => {
    if (!req.complete) decoder.destroy(Object.assign(new Error('the client went away'), { code: 'ECONNRESET' }));
  };
  req.once('close', aborted);
  decoder.write(first);
  req.pipe(decoder);
  try {
    return await collect(decoder, limit);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw err;
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new BadBodyError(400, 'bad_encoding', `the body is not valid ${gzip ? 'gzip' : 'deflate'} data (${(err as Error).message})`);
    }
    throw err;
  } finally {
    req.off('close', aborted);
    req.unpipe(decoder);
    decoder.destroy();
    // Whatever is left of a refused body is read and dropped, so the answer can be sent.
    req.resume();
  }
}

/** The first chunk of the body (to pick the decoder), leaving the request paused; undefined when empty. */
function firstChunk(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      done();
      req.pause();
      resolve(chunk);
    };
    const onEnd = () => {
      done();
      resolve(undefined);
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
  });
}

function isZlibHeader(chunk: Buffer): boolean {
  return chunk.length >= 2 && (chunk[0]! & 0x0f) === 8 && ((chunk[0]! << 8) | chunk[1]!) % 31 === 0;
}

/** Byte offset of the first byte that breaks UTF-8 (slow path: only for a refused body). */
export function firstInvalidUtf8(buf: Buffer): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > buf.length) return i;
    // Every continuation byte is 10xxxxxx; the second byte's range also rules out overlongs and surrogates.
    const second = buf[i + 1];
    if (len >= 2) {
      const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
      const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
      if (second === undefined || second < lo || second > hi) return i;
    }
    for (let k = 2; k < len; k++) if ((buf[i + k]! & 0xc0) !== 0x80) return i;
    i += len;
  }
  return buf.length;
}
