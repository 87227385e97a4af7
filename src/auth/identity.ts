/**
 * Who posted a request, as far as the collector can tell: a token or a client certificate from
 * `auth`. Its claims decide what the request may carry (namespaces) and what is stamped on each
 * alert (tenant, cluster).
 */
export interface Identity {
  /** The token's or certificate entry's name: a metrics label, never a secret. */
  name: string;
  /** `user`: a web UI user's session (src/ui/sessions.ts), for /api only. */
  kind: 'token' | 'clientCert' | 'user';
  tenant?: string;
  cluster?: string;
  /** Undefined: any namespace. */
  namespaces?: NamespaceList;
  /** Alerts per second; undefined: unlimited. */
  rateLimit?: number;
}

export interface NamespaceList {
  allows(namespace: string): boolean;
  /** The list as written in config, for the 403 detail. */
  readonly shown: string;
}

/** The claims a token or client-certificate entry of `auth` makes, as its Identity. */
export function identityOf(
  name: string,
  kind: Identity['kind'],
  claims: { tenant?: string; cluster?: string; namespaces?: readonly string[]; rateLimit?: number },
): Identity {
  return {
    name,
    kind,
    tenant: claims.tenant,
    cluster: claims.cluster,
    namespaces: claims.namespaces ? namespaceList(claims.namespaces) : undefined,
    rateLimit: claims.rateLimit,
  };
}

/** Names and "/regex/" patterns, compiled once. A regex is anchored by whoever writes it. */
export function namespaceList(patterns: readonly string[]): NamespaceList {
  const names = new Set<string>();
  const regexes: RegExp[] = [];
  for (const p of patterns) {
    const m = /^\/(.*)\/([imsu]*)$/s.exec(p);
    if (m) regexes.push(new RegExp(m[1]!, m[2]));
    else names.add(p);
  }
  return {
    allows: (ns) => names.has(ns) || regexes.some((re) => re.test(ns)),
    shown: patterns.join(', '),
  };
}
