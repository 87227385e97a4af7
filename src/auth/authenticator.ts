import type { IncomingMessage } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import { stringifyJson } from '../alert/json.js';
import type { AuthConfig } from '../config/schema.js';
import { AlertForbiddenError, type AlertPolicy } from '../collector/decode.js';
import { ClientCertTable } from './client-certs.js';
import type { Identity } from './identity.js';
import { RateLimiter } from './rate-limit.js';
import { presentedToken, TokenTable } from './tokens.js';

/** output_fields keys the collector writes from the sender's identity. */
export const TENANT_FIELD = 'falconet.tenant';
export const CLUSTER_FIELD = 'falconet.cluster';
/** Namespace fields an alert can claim: syscall rules (k8s.ns.name, k8smeta) and k8s_audit rules. */
const NAMESPACE_FIELDS = ['k8s.ns.name', 'ka.target.namespace', 'k8smeta.ns.name'] as const;

export type AuthFailure = 'missing' | 'invalid' | 'namespace' | 'rate_limited';

/**
 * Inbound authentication: on as soon as `auth.tokens` or `auth.clientCerts` lists anything.
 * Counts refusals by identity name (`unknown` when none): never by the presented value.
 */
export class Authenticator {
  private readonly tokens: TokenTable;
  private readonly certs: ClientCertTable;
  private readonly limiter = new RateLimiter();
  private readonly failures: Counter<'identity' | 'reason'>;

  constructor(config: AuthConfig, registry: Registry) {
    this.tokens = new TokenTable(config.tokens);
    this.certs = new ClientCertTable(config.clientCerts);
    this.failures =
      (registry.getSingleMetric('falconet_auth_refused_total') as Counter<'identity' | 'reason'> | undefined) ??
      new Counter({
        name: 'falconet_auth_refused_total',
        help: 'Ingest requests refused by authentication (missing, invalid), namespace claims or rate limit, by token or certificate name',
        labelNames: ['identity', 'reason'] as const,
        registers: [registry],
      });
  }

  get enabled(): boolean {
    return this.tokens.size > 0 || this.certs.size > 0;
  }

  /** A verified client certificate first (mTLS), else the token the request presents. */
  identify(req: IncomingMessage): Identity | AuthFailure {
    const cert = this.certs.lookup(req);
    if (cert) return cert;
    const token = presentedToken(req);
    if (token === undefined || token === '') return 'missing';
    return this.tokens.lookup(token) ?? 'invalid';
  }

  refused(identity: Identity | undefined, reason: AuthFailure): void {
    this.failures.inc({ identity: identity?.name ?? 'unknown', reason });
  }

  /** 0 when the identity may post `count` alerts now, else seconds for Retry-After. */
  admit(identity: Identity, count: number): number {
    if (identity.rateLimit === undefined) return 0;
    return this.limiter.admit(`${identity.kind}:${identity.name}`, identity.rateLimit, count);
  }

  /** What the identity's alerts must satisfy and carry; tenant/cluster keys it does not hold are removed. */
  policy(identity: Identity): AlertPolicy {
    const allowed = identity.namespaces;
    return {
      stamp: { [TENANT_FIELD]: identity.tenant, [CLUSTER_FIELD]: identity.cluster },
      check(alert, where) {
        if (!allowed) return;
        const fields = alert.output_fields as Record<string, unknown> | null | undefined;
        if (!fields) return;
        for (const key of NAMESPACE_FIELDS) {
          const ns = fields[key];
          if (ns === undefined || ns === null || ns === '') continue;
          if (typeof ns !== 'string' || !allowed.allows(ns)) {
            // A namespace of the wrong type (a number, a big integer, an object) is refused the same way.
            const shown = stringifyJson(typeof ns === 'string' ? ns.slice(0, 253) : ns).slice(0, 260);
            throw new AlertForbiddenError(
              'namespace_forbidden',
              `${where}output_fields.${key} ${shown} is not a namespace of ${identity.kind === 'token' ? 'token' : 'client certificate'} "${identity.name}" (${allowed.shown}); nothing was accepted`,
            );
          }
        }
      },
    };
  }
}
