import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { describeRedis, displayRedisUrl } from '../../src/queue/connection.js';
import { workerMetricsPort } from '../../src/observability/worker-metrics-port.js';

const doc = (redis: Record<string, unknown>) => ({ redis, outputs: { out: { type: 'stdout' } }, routes: [{ outputs: ['out'] }] });

describe('redis config', () => {
  it('Cluster hash-tags the prefix (BullMQ convention); a prefix already in braces stays', () => {
    expect(buildConfig(doc({ cluster: [{ host: 'r1', port: 6379 }] }), {}).redis.prefix).toBe('{falconet}');
    expect(buildConfig(doc({ cluster: [{ host: 'r1', port: 6379 }], prefix: '{fal}' }), {}).redis.prefix).toBe('{fal}');
    expect(buildConfig(doc({}), {}).redis.prefix).toBe('falconet');
  });

  it('refuses Sentinel without a master name, Sentinel with Cluster, waitReplicas with Cluster, naming the key', () => {
    const nodes = [{ host: 's1', port: 26379 }];
    expect(() => buildConfig(doc({ sentinels: nodes }), {})).toThrow(/redis\.sentinelName: required with redis\.sentinels/);
    expect(() => buildConfig(doc({ sentinels: nodes, sentinelName: 'm', cluster: nodes }), {})).toThrow(/redis\.cluster: redis\.sentinels and redis\.cluster exclude each other/);
    expect(() => buildConfig(doc({ cluster: nodes, waitReplicas: 1 }), {})).toThrow(/redis\.waitReplicas: not supported with redis\.cluster/);
  });

  it('describes where Redis is without a password', () => {
    expect(displayRedisUrl('rediss://falconet:s3cret@r:6380/2')).toBe('rediss://falconet:***@r:6380/2');
    const sentinel = { url: 'redis://falconet:s3cret@ignored', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], sentinelName: 'm', sentinelPassword: 'sp' };
    expect(describeRedis(sentinel)).toBe('sentinel master "m" via s1:26379,s2:26379 as falconet');
    expect(describeRedis({ url: 'redis://:s3cret@x', cluster: [{ host: 'r1', port: 7000 }] })).toBe('cluster r1:7000');
  });
});

describe('the worker metrics port', () => {
  it('--metrics-port beats FALCONET_METRICS_PORT beats worker.metricsPort; 0 = free, off = none', () => {
    expect(workerMetricsPort(2802, undefined, {})).toEqual({ port: 2802, from: 'worker.metricsPort' });
    expect(workerMetricsPort(2802, undefined, { FALCONET_METRICS_PORT: '2803' })).toEqual({ port: 2803, from: 'FALCONET_METRICS_PORT' });
    expect(workerMetricsPort(2802, '0', { FALCONET_METRICS_PORT: '2803' })).toEqual({ port: 0, from: '--metrics-port' });
    expect(workerMetricsPort(2802, 'off', {})).toEqual({ port: 'off', from: '--metrics-port' });
    expect(() => workerMetricsPort(2802, undefined, { FALCONET_METRICS_PORT: '70000' })).toThrow('FALCONET_METRICS_PORT "70000" is not a port');
  });
});
