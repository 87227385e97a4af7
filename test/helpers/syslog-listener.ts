import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';

/**
 * A syslog receiver for tests that parses RFC 5424 strictly and refuses anything off-spec: a bad
 * PRI or VERSION, a TIMESTAMP with more than six fraction digits or not a real date, header fields
 * too long or outside PRINTUSASCII, structured data with a bad SD-NAME, an unescaped `"`, `\` or
 * `]` in a PARAM-VALUE, a duplicate or unregistered SD-ID, MSG that is not valid UTF-8 after a
 * BOM, and — Falconet's own promise — any control character in a record. Over TCP and TLS it
 * requires RFC 6587 octet counting and drops the connection at the first unframed byte.
 */

export interface SdElement {
  id: string;
  params: Array<[name: string, value: string]>;
}

export interface SyslogMessage {
  pri: number;
  facility: number;
  severity: number;
  version: 1;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  /** Empty for NILVALUE. */
  sd: SdElement[];
  /** MSG after the BOM, or undefined when the record has none. */
  msg?: string;
  bom: boolean;
  /** The record as received (without framing). */
  raw: Buffer;
}

export class SyslogParseError extends Error {}

const fail = (why: string): never => {
  throw new SyslogParseError(why);
};

const PRINTUSASCII = /^[!-~]+$/;
const SD_NAME = /^[!#-<>-\\^-~]{1,32}$/;
/** SD-IDs registered with IANA (RFC 5424 §7); any other must be name@number. */
const IANA_SD_IDS = new Set(['timeQuality', 'origin', 'meta']);
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return fail(`${what} is not valid UTF-8`);
  }
}

function checkTimestamp(ts: string): void {
  if (ts === '-') return;
  const m = TIMESTAMP.exec(ts) ?? fail(`TIMESTAMP ${JSON.stringify(ts)} is not RFC 5424 (at most 6 fraction digits, upper-case T and Z)`);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as number[];
  const date = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
  if (date.getUTCMonth() !== mo! - 1 || date.getUTCDate() !== d! || h! > 23 || mi! > 59 || s! > 59) fail(`TIMESTAMP ${ts} is not a real date-time`);
  if (m[8] !== 'Z') {
    const [oh, om] = m[8]!.slice(1).split(':').map(Number) as [number, number];
    if (oh > 23 || om > 59) fail(`TIMESTAMP offset ${m[8]} is out of range`);
  }
}

function headerField(value: string | undefined, name: string, max: number): string {
  if (value === undefined || value === '') return fail(`${name} is missing`);
  if (value.length > max) fail(`${name} is longer than ${max}`);
  if (!PRINTUSASCII.test(value)) fail(`${name} ${JSON.stringify(value)} is not PRINTUSASCII`);
  return value;
}

/** Parses STRUCTURED-DATA from `text` at `at`; returns the elements and the index after them. */
function parseSd(text: string, start: number): { sd: SdElement[]; end: number } {
  if (text[start] === '-') return { sd: [], end: start + 1 };
  const sd: SdElement[] = [];
  let i = start;
  const seen = new Set<string>();
  const name = (what: string): string => {
    let j = i;
    while (j < text.length && !' =]"'.includes(text[j]!)) j++;
    const n = text.slice(i, j);
    if (!SD_NAME.test(n)) fail(`${what} ${JSON.stringify(n)} is not an SD-NAME`);
    i = j;
    return n;
  };
  if (text[i] !== '[') fail('STRUCTURED-DATA must be - or start with [');
  while (text[i] === '[') {
    i++;
    const id = name('SD-ID');
    if (!IANA_SD_IDS.has(id) && !/^[^@]+@\d+(\.\d+)*$/.test(id)) fail(`SD-ID ${id} is neither IANA-registered nor name@<enterprise number>`);
    if (seen.has(id)) fail(`SD-ID ${id} appears twice`);
    seen.add(id);
    const params: Array<[string, string]> = [];
    while (text[i] === ' ') {
      i++;
      const pname = name('PARAM-NAME');
      if (text[i] !== '=' || text[i + 1] !== '"') fail(`PARAM ${pname} must be followed by ="`);
      i += 2;
      let value = '';
      for (;;) {
        const ch = text[i];
        if (ch === undefined) fail(`PARAM-VALUE of ${pname} is not closed`);
        if (ch === '"') break;
        if (ch === ']') fail(`unescaped ] in PARAM-VALUE of ${pname}`);
        if (ch === '\\') {
          const next = text[i + 1];
          // RFC 5424 §6.3.3 reads any other escape as a literal backslash; a sender that escapes
          // correctly never produces one, so this listener refuses it.
          if (next !== '"' && next !== '\\' && next !== ']') fail(`unescaped \\ in PARAM-VALUE of ${pname}`);
          value += next;
          i += 2;
          continue;
        }
        value += ch;
        i++;
      }
      i++;
      params.push([pname, value]);
    }
    if (text[i] !== ']') fail(`SD-ELEMENT ${id} is not closed by ]`);
    i++;
    sd.push({ id, params });
  }
  return { sd, end: i };
}

/** Parses one record (no framing). Throws SyslogParseError when it is not RFC 5424. */
export function parseSyslogMessage(raw: Buffer): SyslogMessage {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw.toString('latin1'))) fail('a control character in the record');
  const m = /^<(0|[1-9]\d{0,2})>([1-9]\d{0,2}) /.exec(raw.toString('latin1')) ?? fail('no <PRI>VERSION SP at the start');
  const pri = Number(m[1]);
  if (pri > 191) fail(`PRI ${pri} is more than 191`);
  if (m[2] !== '1') fail(`VERSION ${m[2]} is not 1`);
  // Falconet always sends UTF-8 (MSG-UTF8, or MSG-ANY that happens to be UTF-8): decode it all.
  const text = decodeUtf8(raw, 'the record');
  let i = m[0].length;
  const field = (): string => {
    const j = text.indexOf(' ', i);
    const value = j < 0 ? text.slice(i) : text.slice(i, j);
    i = j < 0 ? text.length : j + 1;
    return value;
  };
  const timestamp = field();
  checkTimestamp(timestamp);
  const hostname = headerField(field(), 'HOSTNAME', 255);
  const appName = headerField(field(), 'APP-NAME', 48);
  const procId = headerField(field(), 'PROCID', 128);
  const msgId = headerField(field(), 'MSGID', 32);
  if (text[i - 1] !== ' ' || i >= text.length) fail('no SP and STRUCTURED-DATA after MSGID');
  const { sd, end } = parseSd(text, i);
  let msg: string | undefined;
  let bom = false;
  const rest = text.slice(end);
  if (rest !== '') {
    if (rest[0] !== ' ') fail(`no SP between STRUCTURED-DATA and MSG: ${JSON.stringify(rest.slice(0, 20))}`);
    msg = rest.slice(1);
    if (msg.startsWith('\uFEFF')) {
      bom = true;
      msg = msg.slice(1);
    }
  }
  return { pri, facility: pri >> 3, severity: pri & 7, version: 1, timestamp, hostname, appName, procId, msgId, sd, msg, bom, raw };
}

/** Splits an octet-counted stream (RFC 6587 §3.4.1); keeps a partial frame for the next chunk. */
export class OctetCountingDecoder {
  private buffer: Buffer = Buffer.alloc(0);

  /** The complete records in `chunk` (plus what was kept); throws at an unframed byte. */
  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      const sp = this.buffer.indexOf(0x20);
      if (this.buffer.length === 0) return out;
      const digits = (sp < 0 ? this.buffer : this.buffer.subarray(0, sp)).toString('latin1');
      // MSG-LEN = NONZERO-DIGIT *DIGIT; a `<` here is a record sent without octet counting.
      if (!/^[1-9]\d*$/.test(digits)) fail(`unframed record: expected MSG-LEN SP, got ${JSON.stringify(digits.slice(0, 20))}`);
      if (sp < 0) {
        if (digits.length > 10) fail('MSG-LEN is too long');
        return out;
      }
      const len = Number(digits);
      if (this.buffer.length < sp + 1 + len) return out;
      out.push(this.buffer.subarray(sp + 1, sp + 1 + len));
      this.buffer = this.buffer.subarray(sp + 1 + len);
    }
  }

  /** Bytes of a frame not yet complete. */
  get pending(): number {
    return this.buffer.length;
  }
}

export interface ListenerOptions {
  transport: 'udp' | 'tcp' | 'tls';
  /** 0 (default): a free port. A restarted listener passes its old one. */
  port?: number;
  /** For `tls`: the server's key and certificate; `ca` + `requestCert` to require client certificates. */
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer; requestCert?: boolean };
}

export interface SyslogListener {
  port: number;
  url: string;
  /** Every record that parsed, in arrival order. */
  messages: SyslogMessage[];
  /** Why records or connections were refused. A test asserts this stays empty. */
  errors: string[];
  /** Datagram sizes (UDP) as received. */
  datagramSizes: number[];
  /** Client certificate CNs of TLS connections. */
  peers: string[];
  connections(): number;
  stop(): Promise<void>;
}

/** Starts a strict RFC 5424 listener on 127.0.0.1. */
export async function startSyslogListener(opts: ListenerOptions): Promise<SyslogListener> {
  const messages: SyslogMessage[] = [];
  const errors: string[] = [];
  const datagramSizes: number[] = [];
  const peers: string[] = [];
  let connections = 0;
  const accept = (record: Buffer): boolean => {
    try {
      messages.push(parseSyslogMessage(record));
      return true;
    } catch (err) {
      errors.push(`${(err as Error).message}: ${JSON.stringify(record.toString('utf8').slice(0, 200))}`);
      return false;
    }
  };

  if (opts.transport === 'udp') {
    const socket: UdpSocket = createSocket('udp4');
    socket.on('message', (msg) => {
      datagramSizes.push(msg.length);
      accept(msg);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    const port = socket.address().port;
    return {
      port,
      url: `udp://127.0.0.1:${port}`,
      messages,
      errors,
      datagramSizes,
      peers,
      connections: () => connections,
      stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
    };
  }

  const sockets = new Set<Socket>();
  const onConnection = (socket: Socket) => {
    connections++;
    sockets.add(socket);
    if (opts.transport === 'tls') {
      const cn = (socket as TLSSocket).getPeerCertificate?.()?.subject?.CN;
      if (cn) peers.push(String(cn));
    }
    const decoder = new OctetCountingDecoder();
    socket.on('data', (chunk: Buffer) => {
      let records: Buffer[];
      try {
        records = decoder.push(chunk);
      } catch (err) {
        errors.push((err as Error).message);
        socket.destroy();
        return;
      }
      for (const r of records) if (!accept(r)) return void socket.destroy();
    });
    socket.on('end', () => {
      if (decoder.pending > 0) errors.push(`connection ended inside a frame (${decoder.pending} bytes)`);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const server: Server =
    opts.transport === 'tls'
      ? createTlsServer(
          { key: opts.tls!.key, cert: opts.tls!.cert, ca: opts.tls!.ca, requestCert: opts.tls!.requestCert ?? false, rejectUnauthorized: opts.tls!.requestCert ?? false },
          onConnection,
        )
      : createNetServer(onConnection);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${opts.transport}://127.0.0.1:${port}`,
    messages,
    errors,
    datagramSizes,
    peers,
    connections: () => connections,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
