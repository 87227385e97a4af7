import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { defineOutput } from '../kit/define.js';
import { byteSize, duration } from '../kit/duration.js';
import { tlsOptions } from '../kit/options.js';
import { FACILITIES, formatRecord, isPrivateSdId, octetCounted, type FacilityName, type RecordOptions } from './payload.js';
import { DatagramTransport, StreamTransport, type Endpoint, type SyslogTransport } from './transport.js';

const FACILITY_NAMES = Object.keys(FACILITIES) as [FacilityName, ...FacilityName[]];

/** RFC 5426 §3.2: receivers must take 480 octets; 65507 is the largest UDP payload over IPv4. */
const MIN_MESSAGE_SIZE = 480;
const MAX_DATAGRAM = 65_507;
const DEFAULT_DATAGRAM = 2048;
/** IANA ports: syslog 514/udp (also the usual TCP one), syslog-tls 6514 (RFC 5425). */
const DEFAULT_PORTS = { udp: 514, tcp: 514, tls: 6514 } as const;

const options = {
  /** `udp://host:514`, `tcp://host:514` or `tls://host:6514`. */
  url: z.url({ protocol: /^(udp|tcp|tls)$/ }),
  /** For `tls://` only: private CA, client certificate (mTLS), insecureSkipVerify. */
  tls: tlsOptions.optional(),
  /** How long one TCP/TLS connection attempt may take. */
  connectTimeout: duration.default(10_000),
  /** Facility by name (`local0` = 16 … `auth`, `authpriv`, `kern`). */
  facility: z.enum(FACILITY_NAMES).default('local0'),
  /** APP-NAME: 1–48 printable US-ASCII characters. */
  appName: z.string().regex(/^[!-~]{1,48}$/, '1 to 48 printable US-ASCII characters, no spaces').default('falco'),
  /** SD-ID of the structured data: `name@<your IANA private enterprise number>`. */
  sdId: z
    .string()
    .refine(isPrivateSdId, 'a private SD-ID `name@<enterprise number>`: at most 32 printable US-ASCII characters, none of = ] " or space')
    .default('falco@32473'),
  /** MSG: `output` (Falco's output text) or `json` (the whole alert). */
  format: z.enum(['output', 'json']).default('output'),
  /** Start MSG with the UTF-8 BOM, as RFC 5424 §6.4 says for UTF-8 text. */
  bom: z.boolean().default(true),
  /** Largest record in bytes (cut to fit). Default 2048 over UDP, no limit over TCP/TLS. */
  maxMessageSize: byteSize.refine((n) => n >= MIN_MESSAGE_SIZE && n <= MAX_DATAGRAM, `from ${MIN_MESSAGE_SIZE} to ${MAX_DATAGRAM} bytes`).optional(),
};

function endpointOf(url: string): Endpoint {
  const u = new URL(url);
  const protocol = u.protocol.slice(0, -1) as Endpoint['protocol'];
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port === '' ? DEFAULT_PORTS[protocol] : Number(u.port);
  return { protocol, host, port, target: `${protocol}://${u.host}${u.port === '' ? `:${port}` : ''}` };
}

export const syslogOutput = defineOutput({
  type: 'syslog',
  summary: 'RFC 5424 syslog with structured data over UDP, TCP (octet counting) or TLS (RFC 5425); one persistent connection',
  transport: 'socket',
  options,
  batching: 'optional',
  defaultOverflow: 'queue',
  // No credentials in syslog. (A `tls.key` given as PEM text is as secret as in every other
  // output's `tls`; none of them lists it yet: a kit-wide question.)
  // TLS: a TCP connection whose handshake a silent peer never finishes. (Over plain TCP a syslog
  // receiver never answers either, so a silent one looks healthy: there is nothing to time out.)
  example: ({ host, port }) => ({ type: 'syslog', url: `tls://${host}:${port}`, facility: 'local0', appName: 'falco', sdId: 'falco@32473' }),
  check(config) {
    const problems: Array<{ key: string; message: string }> = [];
    const u = new URL(config.url);
    if (u.hostname === '') problems.push({ key: 'url', message: 'needs a host' });
    if (u.username !== '' || u.password !== '') problems.push({ key: 'url', message: 'syslog has no credentials; remove them from the URL' });
    if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') problems.push({ key: 'url', message: 'only scheme, host and port (no path or query)' });
    if (config.tls && u.protocol !== 'tls:') problems.push({ key: 'tls', message: 'applies to tls:// URLs only' });
    for (const key of ['ca', 'cert', 'key'] as const) {
      const value = config.tls?.[key];
      if (value && !value.includes('-----BEGIN')) {
        try {
          readFileSync(value);
        } catch (err) {
          problems.push({ key: `tls.${key}`, message: `cannot read ${value}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
        }
      }
    }
    if (Boolean(config.tls?.cert) !== Boolean(config.tls?.key)) problems.push({ key: 'tls', message: 'cert and key go together (mTLS)' });
    return problems;
  },
  create(config, { logger }) {
    const endpoint = endpointOf(config.url);
    const record: RecordOptions = { facility: config.facility, appName: config.appName, sdId: config.sdId, format: config.format, bom: config.bom };
    const datagrams = endpoint.protocol === 'udp';
    const maxBytes = config.maxMessageSize ?? (datagrams ? DEFAULT_DATAGRAM : undefined);
    const transport: SyslogTransport = datagrams
      ? new DatagramTransport(endpoint, { logger })
      : new StreamTransport(endpoint, { tls: config.tls, connectTimeout: config.connectTimeout, logger });
    return {
      async send(alerts, { signal }) {
        const records = alerts.map((a) => formatRecord(a, record, maxBytes));
        // A batch is one write over a stream (frames back to back), one datagram per record over UDP.
        await transport.send(datagrams ? records : records.map(octetCounted), signal);
      },
      close: () => transport.close(),
    };
  },
});
