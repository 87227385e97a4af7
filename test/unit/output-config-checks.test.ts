import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { redactOutputConfig } from '../../src/config/redact.js';

describe('output config checks across keys', () => {
  it('refuses elasticsearch with both index and dataStream, naming the key', () => {
    const load = () =>
      parseOutputInstance('es', { type: 'elasticsearch', url: 'http://127.0.0.1:9200', index: 'falco', dataStream: 'logs-falco-default' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/outputs\.es\.dataStream: set index or dataStream, not both/);
  });

  it('accepts elasticsearch with only one of them', () => {
    expect(parseOutputInstance('es', { type: 'elasticsearch', url: 'http://127.0.0.1:9200', dataStream: 'logs-falco-default' }).name).toBe('es');
  });
});

describe('redactOutputConfig', () => {
  it('hides inline TLS keys, credentials in URLs and secret-named keys', () => {
    const shown = JSON.stringify(
      redactOutputConfig({
        url: 'https://user:pw@hooks.example/T000/B000/XXXX?sig=abc',
        tls: { key: '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----', ca: '/etc/ca.pem' },
        headers: { Authorization: 'Bearer tok-123' },
        routingKey: 'R0UT1NGKEY',
        index: 'falco',
      }),
    );
    for (const secret of ['pw', 'XXXX', 'sig=abc', 'MIIE', 'tok-123', 'R0UT1NGKEY']) expect(shown).not.toContain(secret);
    expect(shown).toContain('https://hooks.example/…');
    expect(shown).toContain('/etc/ca.pem');
    expect(shown).toContain('"index":"falco"');
  });
});
