import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient as Redis } from '../queue/connection.js';
import { namespaceList, type Identity } from '../auth/identity.js';

export const SESSION_COOKIE = 'falconet_session';
export const CSRF_HEADER = 'x-falconet-csrf';
const TTL_SECONDS = 12 * 3600;

export interface UiUser {
  name: string;
  passwordHash: string;
  tenant?: string;
  namespaces?: string[];
}

interface SessionRecord {
  name: string;
  tenant?: string;
  namespaces?: string[];
  csrf: string;
}

/**
 * Sessions of UI users, in Redis (every collector replica sees them), keyed by a hash of the
 * cookie value so that the value itself is stored nowhere. They last 12 hours.
 */
export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(token: string): string {
    return `${this.prefix}:ui:session:${createHash('sha256').update(token).digest('hex')}`;
  }

  async create(user: UiUser): Promise<{ token: string; csrf: string }> {
    const token = randomBytes(32).toString('base64url');
    const csrf = randomBytes(18).toString('base64url');
    const record: SessionRecord = { name: user.name, tenant: user.tenant, namespaces: user.namespaces, csrf };
    await this.redis.set(this.key(token), JSON.stringify(record), 'EX', TTL_SECONDS);
    return { token, csrf };
  }

  async lookup(token: string): Promise<{ identity: Identity; csrf: string } | undefined> {
    const raw = await this.redis.get(this.key(token));
    if (!raw) return undefined;
    const r = JSON.parse(raw) as SessionRecord;
    return { identity: { name: r.name, kind: 'user' as Identity['kind'], tenant: r.tenant, namespaces: r.namespaces ? namespaceList(r.namespaces) : undefined }, csrf: r.csrf };
  }

  async destroy(token: string): Promise<void> {
    await this.redis.del(this.key(token));
  }
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}
