import type { TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { AuthConfig } from '../config/schema.js';
import { identityOf, type Identity } from './identity.js';

type Subject = Record<string, string>;

/** "CN=falco-team1, O=acme" → { CN: 'falco-team1', O: 'acme' }. */
export function parseSubject(text: string): Subject {
  const out: Subject = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    out[part.slice(0, eq).trim().toUpperCase()] = part.slice(eq + 1).trim();
  }
  return out;
}

/**
 * mTLS identities: a verified client certificate whose subject holds every attribute of an
 * `auth.clientCerts[].subject` gets that entry's claims. Only certificates the TLS layer verified
 * against `listen.tls.ca` count; an unverified one is no identity at all.
 */
export class ClientCertTable {
  private readonly entries: Array<{ subject: Subject; identity: Identity }>;

  constructor(certs: AuthConfig['clientCerts']) {
    this.entries = certs.map((c) => ({
      subject: parseSubject(c.subject),
      identity: identityOf(c.name ?? c.subject.replace(/\s+/g, ''), 'clientCert', c),
    }));
  }

  get size(): number {
    return this.entries.length;
  }

  lookup(req: IncomingMessage): Identity | undefined {
    const socket = req.socket as Partial<TLSSocket>;
    if (this.entries.length === 0 || !socket.encrypted || !socket.authorized || !socket.getPeerCertificate) return undefined;
    const peer = socket.getPeerCertificate().subject as unknown as Record<string, string | string[]> | undefined;
    if (!peer) return undefined;
    const upper: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(peer)) upper[k.toUpperCase()] = [v].flat();
    for (const entry of this.entries) {
      if (Object.entries(entry.subject).every(([k, v]) => upper[k]?.includes(v))) return entry.identity;
    }
    return undefined;
  }
}
