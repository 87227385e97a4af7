import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string> | string[];
  volumes?: Array<string | { source?: string; target?: string }>;
  ports?: Array<string | number | { target?: number; published?: number | string }>;
  container_name?: string;
}

const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8')) as { services: Record<string, Service> };
const services = compose.services;
const cmd = (s: Service) => (Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? ''));
const env = (s: Service): Record<string, string> =>
  Array.isArray(s.environment)
    ? Object.fromEntries(s.environment.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
    : (s.environment ?? {});
const targets = (s: Service) => (s.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[1] : v.target));
const published = (s: Service) =>
  (s.ports ?? []).map((p) => (typeof p === 'object' ? String(p.published ?? '') : String(p).split(':').slice(0, -1).join(':')));
const containerPorts = (s: Service) =>
  (s.ports ?? []).map((p) => (typeof p === 'object' ? String(p.target) : String(p).split(':').at(-1)!.split('/')[0]));

describe('docker-compose.yml', () => {
  it('has redis, collector and worker', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['redis', 'collector', 'worker']));
  });

  it('redis persists with AOF every second and never evicts keys', () => {
    const c = cmd(services.redis!);
    expect(c).toMatch(/--appendonly\s+yes/);
    expect(c).toMatch(/--appendfsync\s+everysec/);
    expect(c).toMatch(/--maxmemory-policy\s+noeviction/);
  });

  for (const role of ['collector', 'worker'] as const) {
    it(`${role} runs the Falconet image with the config mounted and REDIS_URL at the redis service`, () => {
      const s = services[role]!;
      expect(s.build !== undefined || /falconet/.test(s.image ?? '')).toBe(true);
      expect(cmd(s).split(' ')[0]).toBe(role);
      const configArg = /--config\s+(\S+)/.exec(cmd(s))?.[1] ?? env(s).FALCONET_CONFIG;
      expect(configArg, 'a config path').toBeDefined();
      expect(targets(s).some((t) => t !== undefined && configArg!.startsWith(t.replace(/\/$/, '')))).toBe(true);
      expect(new URL(env(s).REDIS_URL!).hostname).toBe('redis');
    });
  }

  it('collector publishes 2801', () => {
    expect(containerPorts(services.collector!)).toContain('2801');
  });

  it('worker can be scaled: no container_name, no host port', () => {
    const w = services.worker!;
    expect(w.container_name).toBeUndefined();
    expect(published(w).filter((p) => p !== '')).toEqual([]);
    expect(w.ports ?? []).toEqual([]);
  });
});
