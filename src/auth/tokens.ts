import { hash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AuthConfig } from '../config/schema.js';
import { identityOf, type Identity } from './identity.js';

interface TokenEntry {
  digest: Buffer;
  identity: Identity;
}

/**
 * The secret a request presents, from any of the three places Falco can put one: Falco's
 * http_output only sends a URL, so `http://falco:TOKEN@host/` (basic-auth password) and `?token=`
 * are the ones it can use; `Authorization: Bearer` is for everyone else.
 */
export function presentedToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const [scheme, value = ''] = header.trim().split(/\s+/, 2) as [string, string?];
    if (/^bearer$/i.test(scheme)) return value;
    if (/^basic$/i.test(scheme)) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon === -1 ? decoded : decoded.slice(colon + 1);
    }
    return undefined;
  }
  const q = req.url?.indexOf('?') ?? -1;
  if (q === -1) return undefined;
  const token = new URLSearchParams(req.url!.slice(q + 1)).get('token');
  return token ?? undefined;
}

/**
 * Token lookup in constant time: the presented value is hashed (so lengths never differ) and
 * compared against every configured token, without stopping at the first match.
 */
export class TokenTable {
  private readonly entries: TokenEntry[];

  constructor(tokens: AuthConfig['tokens']) {
    this.entries = tokens.map((t) => ({
      digest: sha256(t.token),
      identity: identityOf(t.name, 'token', t),
    }));
  }

  get size(): number {
    return this.entries.length;
  }

  lookup(presented: string): Identity | undefined {
    const digest = sha256(presented);
    let found: Identity | undefined;
    for (const entry of this.entries) {
      const same = timingSafeEqual(digest, entry.digest);
      if (same && !found) found = entry.identity;
    }
    return found;
  }
}

function sha256(text: string): Buffer {
  // Once per authenticated request: the one-shot form allocates no Hash object.
  return hash('sha256', text, 'buffer');
}
