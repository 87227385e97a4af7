import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, formatPath } from '../../src/config/errors.js';
import { buildConfig, loadConfigFile } from '../../src/config/load.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (name: string) => join(root, 'test/fixtures/configs', name);
const tmp = mkdtempSync(join(tmpdir(), 'falconet-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function refusal(load: () => unknown): ConfigError {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('the config was accepted');
}

/** Every failure case, one fixture file each: [file, exact key path, what the message says]. */
const CASES: Array<[string, string, RegExp]> = [
  ['unknown-key.yaml', 'dedup.windw', /unknown key/],
  ['bad-value.yaml', 'outputs.team1.url', /url/i],
  ['bad-duration.yaml', 'outputs.team1.timeout', /"5 fortnights" is not a duration/],
  ['bad-priority.yaml', 'outputs.team1.minimumPriority', /"loud" is not a priority/],
  ['unknown-output-type.yaml', 'outputs.team1.type', /unknown output type "carrier-pigeon"/],
  ['missing-output.yaml', 'routes[1].outputs[0]', /output "platform" is not defined/],
  ['bad-regex.yaml', 'routes[0].match.rule', /invalid regular expression/],
  ['unknown-matcher-field.yaml', 'routes[1].match.namespace', /unknown field/],
  ['env-unset.yaml', 'outputs.team1.headers.Authorization', /environment variable FALCONET_TEST_UNSET_TOKEN is not set/],
  ['file-missing.yaml', 'outputs.team1.url', /cannot read secret file \/nonexistent\/falconet\/secret: ENOENT/],
];

describe('config refusals name the key path', () => {
  for (const [file, path, message] of CASES) {
    it(`${file} → ${path}`, () => {
      const err = refusal(() => loadConfigFile(fixture(file), {}));
      expect(err.issues.map((i) => formatPath(i.path))).toEqual([path]);
      expect(err.issues[0]!.message).toMatch(message);
      expect(err.message).toContain(fixture(file));
      expect(err.message.split('\n')[1]).toMatch(new RegExp(`^  ${path.replace(/[.[\]]/g, '\\$&')}: `));
    });
  }

  it('a missing file and invalid YAML are refused too', () => {
    expect(refusal(() => loadConfigFile(join(tmp, 'nope.yaml'), {})).message).toMatch(/cannot read .*nope\.yaml: ENOENT/);
    writeFileSync(join(tmp, 'broken.yaml'), 'outputs: [\n');
    expect(refusal(() => loadConfigFile(join(tmp, 'broken.yaml'), {})).message).toMatch(/not valid YAML/);
  });

  it('reports every problem at once', () => {
    const err = refusal(() =>
      buildConfig(
        {
          outputs: { a: { type: 'webhook', url: 'http://x/', retry: { attempts: 0 } }, b: { type: 'stdout', colour: 'red' } },
          routes: [{ match: { prio: 'x' }, outputs: ['a', 'c'] }],
        },
        {},
      ),
    );
    expect(err.issues.map((i) => formatPath(i.path)).sort()).toEqual(
      ['outputs.a.retry.attempts', 'outputs.b.colour', 'routes[0].match.prio', 'routes[0].outputs[1]'].sort(),
    );
  });
});

describe('secret substitution', () => {
  const doc = (headers: Record<string, string>, url = 'http://127.0.0.1:9/hook') => ({
    outputs: { team1: { type: 'webhook', url, headers } },
    routes: [{ outputs: ['team1'] }],
  });
  const cfg = (c: ReturnType<typeof buildConfig>) => c.outputs.team1!.config as unknown as { url: string; headers: Record<string, string> };

  it('${ENV_VAR} is replaced inside any string', () => {
    const c = buildConfig(doc({ Authorization: 'Bearer ${T1}', 'X-Both': '${A}-${B}' }, 'http://${HOST}:9/hook'), { T1: 's3cret', A: 'a', B: 'b', HOST: 'example.org' });
    expect(cfg(c).headers).toEqual({ Authorization: 'Bearer s3cret', 'X-Both': 'a-b' });
    expect(cfg(c).url).toBe('http://example.org:9/hook');
  });

  it('${file:/path} is replaced by the file content, trimmed', () => {
    const secret = join(tmp, 'token');
    writeFileSync(secret, 'from-file-token\n');
    const c = buildConfig(doc({ Authorization: `Bearer \${file:${secret}}` }), {});
    expect(cfg(c).headers.Authorization).toBe('Bearer from-file-token');
  });

  it('a substituted value is not parsed as YAML or substituted again', () => {
    const c = buildConfig(doc({ Authorization: '${T}' }), { T: '${OTHER} {a: 1}' });
    expect(cfg(c).headers.Authorization).toBe('${OTHER} {a: 1}');
  });
});

describe('REDIS_URL', () => {
  const doc = { redis: { url: 'redis://from-file:6379' }, outputs: { c: { type: 'stdout' } }, routes: [{ outputs: ['c'] }] };
  it('overrides redis.url', () => {
    expect(buildConfig(doc, { REDIS_URL: 'redis://from-env:6380' }).redis.url).toBe('redis://from-env:6380');
    expect(buildConfig(doc, {}).redis.url).toBe('redis://from-file:6379');
    expect(buildConfig({ outputs: doc.outputs, routes: doc.routes }, { REDIS_URL: 'redis://env-only:1' }).redis).toMatchObject({
      url: 'redis://env-only:1',
      prefix: 'falconet',
    });
  });
});

describe('defaults and shipped configs', () => {
  it('fills the documented defaults', () => {
    const c = buildConfig({ outputs: { c: { type: 'stdout' } }, routes: [{ outputs: ['c'] }] }, {});
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 2801, maxBodySize: 2 * 1024 * 1024, headersTimeout: 10_000, requestTimeout: 30_000 });
    expect(c.auth).toEqual({ tokens: [], clientCerts: [] });
    expect(c.minimumPriority).toBe('Debug');
    expect(c.dedup.window).toBe(600_000);
    expect(c.outputs.c!.config).toMatchObject({ timeout: 10_000, concurrency: 16, retry: { attempts: 10, backoff: 1000, maxBackoff: 60_000 } });
    expect(Object.isFrozen(c.outputs)).toBe(true);
  });

  it('config/falconet.yaml parses', () => {
    const c = loadConfigFile(join(root, 'config/falconet.yaml'), {});
    expect(Object.keys(c.outputs).length).toBeGreaterThan(0);
    expect(c.compiledRoutes.length).toBe(c.routes.length);
  });

  it('config/falconet.example.yaml parses (with the secrets it references set)', () => {
    const c = loadConfigFile(join(root, 'config/falconet.example.yaml'), new Proxy({}, { get: (_t, k) => (typeof k !== 'string' || k === 'REDIS_URL' ? undefined : k.endsWith('_URL') ? `https://hooks.example/test-${k}` : `test-${k}`) }));
    expect(Object.keys(c.outputs).length).toBeGreaterThan(1);
    expect(c.routes.length).toBeGreaterThan(1);
    // Auth is on in the example, its tokens from the environment.
    expect(c.auth.tokens.map((t) => [t.name, t.token])).toEqual([['team1-nodes', 'test-FALCONET_TOKEN_TEAM1'], ['platform-nodes', 'test-FALCONET_TOKEN_PLATFORM']]);
  });

  it('refuses bad auth and listen keys naming the key path', () => {
    const base = { outputs: { c: { type: 'stdout' } }, routes: [{ outputs: ['c'] }] };
    const issues = (doc: Record<string, unknown>) => {
      try {
        buildConfig({ ...base, ...doc }, {});
      } catch (err) {
        return (err as ConfigError).issues.map((i) => i.path.join('.'));
      }
      return [];
    };
    expect(issues({ auth: { tokens: [{ name: 't', token: 'short' }] } })).toEqual(['auth.tokens.0.token']);
    expect(issues({ auth: { tokens: [{ name: 't', token: 'x'.repeat(20), tenants: 'a' }] } })).toEqual(['auth.tokens.0.tenants']);
    expect(issues({ auth: { clientCerts: [{ subject: 'falco-team1' }] } })).toEqual(['auth.clientCerts.0.subject']);
    expect(issues({ listen: { tls: { cert: '/c' } } })).toEqual(['listen.tls.key']);
    expect(issues({ routes: [{ match: { tenant: 'team1', cluster: '/^prod-/' }, outputs: ['c'] }] })).toEqual([]);
  });
});
