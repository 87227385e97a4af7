// The raw floor (BENCH_FLOOR=raw | raw-http, dispatched from bench/floor.ts): the same loop as the
// floor, with the libraries below it replaced by hand-written protocol code on bare net.Sockets,
// so the bench shows what Node itself (event loop, sockets, JSON, loopback TCP) costs per alert
// here, apart from what ioredis and undici add (issue #10).
//   collector: node:http (raw-http: a net server parsing just enough HTTP/1.1), JSON.parse, one
//              XADD per request on one Redis socket speaking RESP by hand, 200 once it is written.
//   worker:    XREADGROUP (COUNT 256, BLOCK) on a socket of its own, JSON.parse, add an id,
//              JSON.stringify, one POST per alert over 8 keep-alive sockets (one request in flight
//              each, like undici's default), XACK in bulk once per event-loop turn.
// No reconnects, no error recovery: a socket error ends the process, which the bench reports.
import { createServer } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';

export interface RawConfig {
  listen: { host: string; port: number };
  redis: { url: string };
  outputs: Record<string, { url: string }>;
}

const EMPTY: Buffer = Buffer.alloc(0);

/** A socket's 'data' handler cutting HTTP/1.1 messages framed by Content-Length: `each(head, body)` per message, in order. */
function httpMessages(each: (head: string, body: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = EMPTY;
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const headEnd = buf.indexOf('\r\n\r\n', 0, 'latin1');
      if (headEnd < 0) return;
      const head = buf.toString('latin1', 0, headEnd);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      const end = headEnd + 4 + length;
      if (buf.length < end) return;
      const body = buf.subarray(headEnd + 4, end);
      buf = end === buf.length ? EMPTY : buf.subarray(end);
      each(head, body);
    }
  };
}

/**
 * The floors' node:http side (both variants of bench/floor.ts but raw-http): GET answers 200,
 * a POST's body goes to `handle`, which answers with a status.
 */
export function serveNodeHttp(listen: { host: string; port: number }, handle: (text: string, answer: (status: number) => void) => void): void {
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-length': '0' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(Buffer.concat(chunks).toString('utf8'), (status) => res.writeHead(status, { 'content-length': '0' }).end()));
  });
  server.keepAliveTimeout = 65_000;
  server.listen(listen.port, listen.host);
}

/** One RESP2 reply at buf[pos..]: [value, next position], or undefined while it is incomplete. */
function parseReply(buf: Buffer, pos: number): [unknown, number] | undefined {
  const eol = buf.indexOf('\r\n', pos, 'latin1');
  if (eol < 0) return undefined;
  const line = buf.toString('latin1', pos + 1, eol);
  switch (buf[pos]) {
    case 0x2b: // +simple
      return [line, eol + 2];
    case 0x2d: // -error
      return [new Error(line), eol + 2];
    case 0x3a: // :integer
      return [Number(line), eol + 2];
    case 0x24: {
      // $bulk (-1: null)
      const n = Number(line);
      if (n < 0) return [null, eol + 2];
      const end = eol + 2 + n;
      return buf.length < end + 2 ? undefined : [buf.toString('utf8', eol + 2, end), end + 2];
    }
    case 0x2a: {
      // *array (-1: null)
      const n = Number(line);
      if (n < 0) return [null, eol + 2];
      const items: unknown[] = [];
      let at = eol + 2;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, at);
        if (!r) return undefined;
        items.push(r[0]);
        at = r[1];
      }
      return [items, at];
    }
  }
  throw new Error(`bad RESP reply byte ${buf[pos]}`);
}

type Reply = (value: unknown) => void;

/**
 * One Redis connection: commands written as RESP arrays, corked until the end of the tick (as
 * ioredis's auto-pipelining batches them), replies handed FIFO to the callbacks of the commands.
 */
export function redisConnection(url: string) {
  const u = new URL(url);
  const socket = connect(Number(u.port || 6379), u.hostname);
  socket.setNoDelay(true);
  socket.on('error', (err) => {
    throw err;
  });
  const pending: Reply[] = [];
  let buf: Buffer = EMPTY;
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    let pos = 0;
    for (let r; (r = parseReply(buf, pos)); pos = r[1]) pending.shift()!(r[0]);
    buf = pos === buf.length ? EMPTY : buf.subarray(pos); // an incomplete reply is parsed again from its start
  });
  let corked = false;
  return (args: string[], reply: Reply) => {
    let cmd = `*${args.length}\r\n`;
    for (const a of args) cmd += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    socket.write(cmd);
    pending.push(reply);
  };
}

/**
 * Keep-alive HTTP/1.1 POSTs to one URL over `n` sockets, one request in flight per socket, the rest
 * queued. A response is read as far as its status line and Content-Length (the sink sends no
 * chunked bodies); the callback gets the status.
 */
export function httpClient(url: string, n = 8) {
  const u = new URL(url);
  const head = `POST ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: `;
  const idle: Array<(body: string, done: (status: number) => void) => void> = [];
  const queue: Array<[string, (status: number) => void]> = [];
  for (let i = 0; i < n; i++) {
    const socket: Socket = connect(Number(u.port || 80), u.hostname);
    socket.setNoDelay(true);
    socket.on('error', (err) => {
      throw err;
    });
    socket.on('close', () => {
      throw new Error('sink closed a keep-alive connection');
    });
    let current: ((status: number) => void) | undefined;
    const send = (body: string, done: (status: number) => void) => {
      current = done;
      socket.write(`${head}${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    socket.on(
      'data',
      httpMessages((response) => {
        const done = current!;
        current = undefined;
        const next = queue.shift();
        if (next) send(next[0], next[1]);
        else idle.push(send);
        done(Number(response.slice(9, 12))); // "HTTP/1.1 200 OK"
      }),
    );
    idle.push(send);
  }
  return (body: string, done: (status: number) => void) => {
    const send = idle.pop();
    if (send) send(body, done);
    else queue.push([body, done]);
  };
}

export function runRawCollector(config: RawConfig, stream: string, rawHttp: boolean): void {
  const redis = redisConnection(config.redis.url);
  // body → status (200 once the XADD is answered, 503 on a Redis error, 400 for bad JSON)
  const handle = (text: string, answer: (status: number) => void) => {
    try {
      JSON.parse(text);
    } catch {
      answer(400);
      return;
    }
    redis(['XADD', stream, '*', 't', String(Date.now()), 'a', text], (r) => answer(r instanceof Error ? 503 : 200));
  };

  if (!rawHttp) {
    serveNodeHttp(config.listen, handle);
    return;
  }

  // raw-http: requests with Content-Length bodies, keep-alive (HTTP/1.1's default; the client
  // closes). Answers leave in request order: the generator (like Falco) has one request in flight
  // per connection, and XADD replies come back FIFO anyway.
  const reply = (status: number) => `HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Error'}\r\nContent-Length: 0\r\n\r\n`;
  const server = createNetServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.on(
      'data',
      httpMessages((request, body) => {
        if (request.startsWith('GET ')) socket.write(reply(200));
        else handle(body.toString('utf8'), (status) => socket.write(reply(status)));
      }),
    );
  });
  server.listen(config.listen.port, config.listen.host);
}

/** Both floors' acknowledgements: ids finished in one event-loop turn go in one XACK. */
export function bulkAcks(send: (ids: string[]) => void): (id: string) => void {
  let acks: string[] = [];
  return (id) => {
    acks.push(id);
    if (acks.length === 1)
      setImmediate(() => {
        const ids = acks;
        acks = [];
        send(ids);
      });
  };
}

/** Both floors' workers: tells the bench it is ready; `stopping` turns true on SIGTERM (the process exits 200 ms later). */
export function workerStarted(): { stopping: boolean } {
  const state = { stopping: false };
  process.on('SIGTERM', () => {
    state.stopping = true;
    setTimeout(() => process.exit(0), 200);
  });
  console.log(JSON.stringify({ msg: 'worker started' }));
  return state;
}

export async function runRawWorker(config: RawConfig, stream: string, group: string): Promise<void> {
  const commands = redisConnection(config.redis.url);
  const blocking = redisConnection(config.redis.url); // XREADGROUP BLOCK holds its connection
  const call = (conn: typeof commands, args: string[]) => new Promise<unknown>((resolve) => conn(args, resolve));
  await call(commands, ['XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM']); // an error reply (group exists) is fine
  const posts = Object.values(config.outputs).map((o) => httpClient(o.url));
  const ack = bulkAcks((ids) => commands(['XACK', stream, group, ...ids], () => undefined));
  const deliver = (id: string, text: string) => {
    const body = JSON.stringify({ id, ...(JSON.parse(text) as object) });
    let left = posts.length;
    for (const post of posts) post(body, () => --left === 0 && ack(id));
  };
  const stop = workerStarted();
  while (!stop.stopping) {
    const reply = (await call(blocking, ['XREADGROUP', 'GROUP', group, 'floor', 'COUNT', '256', 'BLOCK', '1000', 'STREAMS', stream, '>'])) as
      | Array<[string, Array<[string, string[]]>]>
      | null;
    if (reply instanceof Error) throw reply;
    for (const [id, fields] of reply?.[0]?.[1] ?? []) deliver(id, fields[3]!);
  }
}
