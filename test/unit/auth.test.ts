import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { renderTemplate } from '../../outputs/kit/template.js';
import { namespaceList } from '../../src/auth/identity.js';
import { parseSubject } from '../../src/auth/client-certs.js';
import { RateLimiter } from '../../src/auth/rate-limit.js';
import { presentedToken, TokenTable } from '../../src/auth/tokens.js';
import { firstInvalidUtf8 } from '../../src/collector/body.js';
import { checkJsonLimits, MAX_ALERT_KEYS } from '../../src/collector/json-limits.js';
import { normalise } from '../../src/router/stages/normalise.js';

const req = (headers: Record<string, string>, url = '/') => ({ headers, url }) as unknown as IncomingMessage;

describe('auth units', () => {
  it('finds the token as Bearer, as the basic-auth password (any user) and as ?token=', () => {
    expect(presentedToken(req({ authorization: 'Bearer abc' }))).toBe('abc');
    expect(presentedToken(req({ authorization: 'bearer   abc' }))).toBe('abc');
    expect(presentedToken(req({ authorization: `Basic ${Buffer.from('falco:p:w').toString('base64')}` }))).toBe('p:w');
    expect(presentedToken(req({}, '/falco?x=1&token=q%2Bv'))).toBe('q+v');
    expect(presentedToken(req({}, '/'))).toBeUndefined();
    expect(presentedToken(req({ authorization: 'Digest xyz' }, '/?token=t'))).toBeUndefined();
  });

  it('looks tokens up by value, whichever position, and never by a prefix', () => {
    const table = new TokenTable([
      { name: 'a', token: 'aaaaaaaaaaaaaaaa' },
      { name: 'b', token: 'bbbbbbbbbbbbbbbb', tenant: 't' },
    ]);
    expect(table.lookup('bbbbbbbbbbbbbbbb')?.name).toBe('b');
    expect(table.lookup('aaaaaaaaaaaaaaaa')?.tenant).toBeUndefined();
    expect(table.lookup('bbbbbbbbbbbbbbb')).toBeUndefined();
    expect(table.lookup('')).toBeUndefined();
  });

  it('namespace lists take names and /regex/', () => {
    const list = namespaceList(['team1', '/^team1-[a-z]+$/']);
    expect(['team1', 'team1-dev'].map(list.allows)).toEqual([true, true]);
    expect(['team10', 'team2', 'xteam1-dev'].map(list.allows)).toEqual([false, false, false]);
  });

  it('parses certificate subjects', () => {
    expect(parseSubject('CN=falco-team1, o=Acme')).toEqual({ CN: 'falco-team1', O: 'Acme' });
  });

  it('rate limit: one second of burst, refills with time, Retry-After in whole seconds', () => {
    let now = 0;
    const limiter = new RateLimiter(() => now);
    for (let i = 0; i < 5; i++) expect(limiter.admit('k', 5, 1)).toBe(0);
    expect(limiter.admit('k', 5, 1)).toBe(1);
    now += 400; // 2 alerts' worth
    expect(limiter.admit('k', 5, 2)).toBe(0);
    expect(limiter.admit('k', 5, 1)).toBeGreaterThanOrEqual(1);
    // A batch larger than the bucket passes once it is full, leaving a debt.
    now += 1000;
    expect(limiter.admit('k', 5, 20)).toBe(0);
    expect(limiter.admit('k', 5, 1)).toBeGreaterThan(1);
    // Keys are independent.
    expect(limiter.admit('other', 5, 1)).toBe(0);
  });

  it('JSON limits: depth counted from the alert, keys per alert, strings skipped', () => {
    expect(checkJsonLimits('{"a":"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\\"{{{{{{{{"}', 0)).toBeUndefined();
    expect(checkJsonLimits(`{"a":${'['.repeat(31)}${']'.repeat(31)}}`, 0)).toBeUndefined();
    expect(checkJsonLimits(`{"a":${'['.repeat(32)}${']'.repeat(32)}}`, 0)).toMatchObject({ kind: 'depth', item: 0 });
    const keys = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":1`).join(',')}}`;
    expect(checkJsonLimits(keys(MAX_ALERT_KEYS), 0)).toBeUndefined();
    expect(checkJsonLimits(keys(MAX_ALERT_KEYS + 1), 0)).toMatchObject({ kind: 'keys' });
    // In a batch the count starts again with each alert, and the problem names the item.
    expect(checkJsonLimits(`[${keys(MAX_ALERT_KEYS)},${keys(MAX_ALERT_KEYS)}]`, 1)).toBeUndefined();
    expect(checkJsonLimits(`[${keys(1)},${keys(MAX_ALERT_KEYS + 1)}]`, 1)).toMatchObject({ kind: 'keys', item: 1 });
    expect(checkJsonLimits('{"a":"x:y:z"}', 0)).toBeUndefined();
  });

  it('finds the first invalid UTF-8 byte', () => {
    expect(firstInvalidUtf8(Buffer.from('abc'))).toBe(3);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc3, 0x28]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0); // a surrogate
    expect(firstInvalidUtf8(Buffer.from([0xc0, 0x80]))).toBe(0); // overlong
    expect(firstInvalidUtf8(Buffer.from('é東🚀'))).toBe(Buffer.byteLength('é東🚀'));
  });

  it('templates print {{tenant}} and {{cluster}}', () => {
    const [alert] = normalise([['id1', JSON.stringify({ rule: 'r', priority: 'Notice', time: '2025-06-12T08:00:00Z', output_fields: { 'falconet.tenant': 'team1', 'falconet.cluster': 'prod-eu-1' } })]]);
    expect(renderTemplate('{{tenant}}@{{cluster}} {{output_fields.falconet.tenant}}', alert!)).toBe('team1@prod-eu-1 team1');
  });
});
