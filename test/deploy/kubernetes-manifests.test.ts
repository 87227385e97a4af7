import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { main } from '../../src/cli/main.js';
import { startCollector, type RunningCollector } from '../../src/collector/service.js';
import { buildConfig, type FalconetConfig } from '../../src/config/load.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { startMetricsServer, type WorkerEndpoints } from '../../src/observability/metrics-server.js';
import { startWorker, type RunningWorker } from '../../src/worker/service.js';
import { deletePrefix, REDIS_URL } from '../helpers/harness.js';
import { loadKustomization, rel, validateObject, type K8sObject } from './kustomize.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = join(root, 'deploy/kubernetes');
const HELM_VALUES = join(dir, 'falco-values.yaml'); // for Helm, not part of any kustomization

const full = loadKustomization(dir);
const externalRedis = loadKustomization(join(dir, 'external-redis'));
const objects = full.objects.map((o) => o.object);
const all = (kind: string) => objects.filter((o) => o.kind === kind);
const one = (kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};
const workloads = [...all('Deployment'), ...all('StatefulSet')];
const podSpec = (w: K8sObject) => w.spec.template.spec;
const containersOf = (w: K8sObject): any[] => [...(podSpec(w).initContainers ?? []), ...podSpec(w).containers];
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

// What the image runs (Dockerfile) and what docker-compose.yml deploys: the manifests must agree.
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const entrypoint = JSON.parse(/^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)![1]!) as string[];
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { image?: string }> };
const falconetImage = compose.services.collector!.image!;
const falconetContainers = workloads.flatMap((w) =>
  containersOf(w).filter((c) => c.image?.split(':')[0] === falconetImage.split(':')[0]).map((c) => ({ workload: w, container: c })),
);
const roleOf = (c: any): string => c.args[0];

/** The environment a container gets: plain values and Secret keys resolved like the kubelet does. */
function containerEnv(c: any, namespace: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name && o.metadata.namespace === namespace);
      expect(secret, `Secret ${ref.name} (env ${e.name})`).toBeDefined();
      const value = secret!.stringData?.[ref.key] ?? (secret!.data?.[ref.key] && Buffer.from(secret!.data[ref.key], 'base64').toString());
      expect(value, `key ${ref.key} of Secret ${ref.name} (env ${e.name})`).toBeDefined();
      env[e.name] = value;
    }
  }
  return env;
}

/** The ConfigMap and key that the container's `--config PATH` reads, through its volume mounts. */
function configFileOf(w: K8sObject, c: any): { configMap: K8sObject; text: string } {
  const args: string[] = c.args;
  const path = args[args.indexOf('--config') + 1]!;
  expect(args.indexOf('--config'), `${c.name}: --config`).toBeGreaterThan(0);
  const mount = (c.volumeMounts ?? []).find((m: any) => posix.dirname(path) === m.mountPath);
  expect(mount, `${c.name}: a volume mounted at ${posix.dirname(path)}`).toBeDefined();
  const volume = podSpec(w).volumes.find((v: any) => v.name === mount.name);
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume?.configMap?.name);
  expect(cm, `${c.name}: ${path} comes from a ConfigMap`).toBeDefined();
  const text = cm!.data?.[posix.basename(path)];
  expect(text, `${c.name}: ConfigMap ${cm!.metadata.name} has key ${posix.basename(path)}`).toBeDefined();
  return { configMap: cm!, text };
}

function falconetConfigOf(w: K8sObject, c: any): FalconetConfig {
  return buildConfig(parse(configFileOf(w, c).text), containerEnv(c, w.metadata.namespace));
}

/** A Kubernetes quantity in bytes (the binary and decimal suffixes our manifests use). */
function bytes(quantity: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (!m) throw new Error(`quantity ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

function yamlFilesUnder(d: string): string[] {
  return readdirSync(d).flatMap((name) => {
    const path = join(d, name);
    if (statSync(path).isDirectory()) return yamlFilesUnder(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

describe('deploy/kubernetes: the files', () => {
  it('every YAML file is a kustomization, one of its resources or generator files (or the Falco Helm values)', () => {
    const used = new Set([...full.files, ...externalRedis.files, HELM_VALUES]);
    const unused = yamlFilesUnder(dir).filter((f) => !used.has(f)).map((f) => rel(root, f));
    expect(unused).toEqual([]);
  });

  it('every object is valid against the Kubernetes API schema of its kind, with no unknown field', () => {
    const errors: string[] = [];
    for (const { file, object } of [...full.objects, ...externalRedis.objects]) {
      try {
        validateObject(object);
      } catch (err) {
        errors.push(`${rel(root, file)}: ${object.kind} ${object.metadata?.name}: ${(err as Error).message}`);
      }
    }
    expect(errors).toEqual([]);
  });

  it('no two objects share kind and name, and every namespaced object is in the Namespace the kustomization creates', () => {
    for (const loaded of [full, externalRedis]) {
      const objs = loaded.objects.map((o) => o.object);
      const keys = objs.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(keys.length).toBe(new Set(keys).size);
      const namespaces = objs.filter((o) => o.kind === 'Namespace').map((n) => n.metadata.name);
      for (const o of objs.filter((o) => o.kind !== 'Namespace')) {
        expect(namespaces, `${o.kind} ${o.metadata.name}`).toContain(o.metadata.namespace);
      }
    }
  });

  it('external-redis is the same deployment without the in-cluster Redis', () => {
    const names = (objs: Array<{ object: K8sObject }>) => objs.map(({ object: o }) => `${o.kind}/${o.metadata.name}`).sort();
    const redisObjects = names(full.objects).filter((n) => !names(externalRedis.objects).includes(n));
    expect(redisObjects).toEqual(['Service/falconet-redis', 'Service/falconet-redis-headless', 'StatefulSet/falconet-redis']);
    expect(names(externalRedis.objects).every((n) => names(full.objects).includes(n))).toBe(true);
  });

  const kubectl = (() => {
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  // The loader above reads kustomizations itself; where kubectl exists, kustomize must agree.
  it.skipIf(!kubectl)('kubectl kustomize builds the same objects (skipped without kubectl)', () => {
    for (const [path, loaded] of [[dir, full], [join(dir, 'external-redis'), externalRedis]] as const) {
      const built = parseAllDocuments(execFileSync('kubectl', ['kustomize', path], { encoding: 'utf8' })).map(
        (d) => d.toJS() as K8sObject,
      );
      for (const o of built) validateObject(o);
      // The generator appends a content hash to the ConfigMap's name and to every reference to it.
      const unhashed = (objs: K8sObject[]) =>
        objs
          .map((o) => JSON.parse(JSON.stringify(o).replaceAll(/"(falconet-config)-[a-z0-9]{10}"/g, '"$1"')) as K8sObject)
          .sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
      expect(unhashed(built)).toEqual(unhashed(loaded.objects.map(({ object }) => object)));
    }
  });
});

describe('deploy/kubernetes: the wiring', () => {
  it('runs a collector and a worker from the image docker-compose.yml uses, with the Dockerfile ENTRYPOINT', async () => {
    const usage: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((text: string) => void usage.push(text));
    await main(['--help']);
    log.mockRestore();
    const roles = [...usage.join('\n').matchAll(/^ {2}(\w[\w-]*) /gm)].map((m) => m[1]);
    expect(roles).toEqual(expect.arrayContaining(['collector', 'worker']));

    expect(falconetContainers.map((f) => roleOf(f.container)).sort()).toEqual(['collector', 'worker']);
    for (const { workload, container } of falconetContainers) {
      expect(container.image, container.name).toBe(falconetImage);
      expect(container.command ?? entrypoint, `${container.name}: command is the image's ENTRYPOINT`).toEqual(entrypoint);
      expect(roles, container.name).toContain(roleOf(container));
      expect(workload.metadata.labels?.['app.kubernetes.io/component'], container.name).toBe(roleOf(container));
    }
    const redis = containersOf(one('StatefulSet', 'falconet-redis'))[0];
    expect(redis.image).toBe(compose.services.redis!.image);
    // `kustomize edit set image falconet=...` must hit the Falconet image.
    for (const image of [...full.images, ...externalRedis.images]) expect(image.name).toBe(falconetImage.split(':')[0]);
  });

  it("the ConfigMap's falconet.yaml passes the config schema with each container's environment (Secret placeholders)", () => {
    for (const { workload, container } of falconetContainers) {
      const strings = JSON.stringify(parse(configFileOf(workload, container).text));
      for (const [, name] of strings.matchAll(/\$\{(?!file:)([^}]+)\}/g)) {
        expect(Object.keys(containerEnv(container, workload.metadata.namespace)), `${container.name}: env ${name}`).toContain(name);
      }
      const config = falconetConfigOf(workload, container);
      expect(Object.keys(config.outputs).length, container.name).toBeGreaterThan(0);
    }
  });

  it('every secretKeyRef names a Secret of the kustomization and a key it has', () => {
    for (const w of workloads) for (const c of containersOf(w)) containerEnv(c, w.metadata.namespace);
  });

  it('REDIS_URL of every Falconet container points at the Redis Service and its port', () => {
    const svc = one('Service', 'falconet-redis');
    for (const { workload, container } of falconetContainers) {
      const url = new URL(containerEnv(container, workload.metadata.namespace).REDIS_URL!);
      expect([svc.metadata.name, `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`]).toContain(url.hostname);
      expect(svc.spec.ports.map((p: any) => p.port)).toContain(Number(url.port || 6379));
    }
  });

  it('every Service selects pods and its targetPort is a containerPort of them', () => {
    for (const svc of all('Service')) {
      const selected = workloads.filter((w) => matches(svc.spec.selector, w.spec.template.metadata.labels));
      expect(selected.length, `Service ${svc.metadata.name} selects a workload`).toBeGreaterThan(0);
      for (const port of svc.spec.ports) {
        const target = port.targetPort ?? port.port;
        for (const w of selected) {
          const ports = containersOf(w).flatMap((c) => c.ports ?? []);
          const hit = ports.some((p: any) => (typeof target === 'string' ? p.name === target : p.containerPort === target));
          expect(hit, `Service ${svc.metadata.name} targetPort ${target} in ${w.metadata.name}`).toBe(true);
        }
      }
    }
  });

  it('every workload selector matches its own pod labels and no other workload', () => {
    for (const w of workloads) {
      expect(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels), w.metadata.name).toBe(true);
      const others = workloads.filter((o) => o !== w && matches(w.spec.selector.matchLabels, o.spec.template.metadata.labels));
      expect(others.map((o) => o.metadata.name), w.metadata.name).toEqual([]);
    }
  });

  it('the Falconet ports are the config ports: listen.port (collector), worker.metricsPort (worker)', () => {
    for (const { workload, container } of falconetContainers) {
      const config = falconetConfigOf(workload, container);
      // Both servers bind listen.host: loopback would hide them from the Service and the kubelet's probes.
      expect(['0.0.0.0', '::'], `${container.name}: listen.host`).toContain(config.listen.host);
      const expected = roleOf(container) === 'collector' ? config.listen.port : config.worker.metricsPort;
      expect((container.ports ?? []).map((p: any) => p.containerPort), container.name).toEqual([expected]);
      const a = workload.spec.template.metadata.annotations ?? {};
      expect(a['prometheus.io/scrape'], container.name).toBe('true');
      expect(Number(a['prometheus.io/port']), container.name).toBe(expected);
    }
  });

  it('the Redis StatefulSet keeps every BullMQ key: AOF every second, no eviction, data on a PVC', () => {
    const sts = one('StatefulSet', 'falconet-redis');
    const redis = containersOf(sts)[0];
    const args = [...(redis.command ?? []), ...(redis.args ?? [])].join(' ');
    expect(args).toMatch(/--appendonly\s+yes/);
    expect(args).toMatch(/--appendfsync\s+everysec/);
    expect(args).toMatch(/--maxmemory-policy\s+noeviction/);
    const dataDir = /--dir\s+(\S+)/.exec(args)?.[1];
    const claim = sts.spec.volumeClaimTemplates.map((t: any) => t.metadata.name);
    const mount = redis.volumeMounts.find((m: any) => m.mountPath === dataDir);
    expect(mount, `a volume at --dir ${dataDir}`).toBeDefined();
    expect(claim).toContain(mount.name);
    expect(sts.spec.serviceName).toBe(one('Service', sts.spec.serviceName).metadata.name);
    expect(one('Service', sts.spec.serviceName).spec.clusterIP).toBe('None');
  });

  it('every container: non-root, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp, no API token', () => {
    for (const w of workloads) {
      const pod = podSpec(w).securityContext ?? {};
      // Nothing here talks to the Kubernetes API.
      expect(podSpec(w).automountServiceAccountToken, w.metadata.name).toBe(false);
      // Services named falconet* would put FALCONET_*_PORT=tcp://... into the environment Falconet reads.
      expect(podSpec(w).enableServiceLinks, w.metadata.name).toBe(false);
      for (const c of containersOf(w)) {
        const sc = c.securityContext ?? {};
        const at = `${w.metadata.name}/${c.name}`;
        expect(sc.runAsNonRoot ?? pod.runAsNonRoot, at).toBe(true);
        // A numeric user: runAsNonRoot cannot verify the Dockerfile's `USER node` (a name) and refuses to start.
        const uid = sc.runAsUser ?? pod.runAsUser;
        expect(Number.isInteger(uid) && uid > 0, `${at}: runAsUser ${uid}`).toBe(true);
        expect(sc.readOnlyRootFilesystem, at).toBe(true);
        expect(sc.allowPrivilegeEscalation, at).toBe(false);
        expect(sc.privileged ?? false, at).toBe(false);
        expect(sc.capabilities?.drop, at).toContain('ALL');
        expect(sc.capabilities?.add ?? [], at).toEqual([]);
        expect((sc.seccompProfile ?? pod.seccompProfile)?.type, at).toBe('RuntimeDefault');
        // Read-only root: /tmp must be a volume.
        expect((c.volumeMounts ?? []).map((m: any) => m.mountPath), at).toContain('/tmp');
      }
    }
  });

  it('the collector spool, when the config has one, is an absolute dir on a writable volume larger than spool.maxBytes', () => {
    const { workload, container } = falconetContainers.find((f) => roleOf(f.container) === 'collector')!;
    const spool = (falconetConfigOf(workload, container) as { spool?: { dir: string; maxBytes: number } }).spool;
    const mounts: any[] = container.volumeMounts ?? [];
    // Before the config schema has spool.dir, the volume waits at its path.
    const dir = spool?.dir ?? '/var/lib/falconet/spool';
    expect(posix.isAbsolute(dir), `spool.dir ${dir} is absolute (a relative one lies under the read-only /app)`).toBe(true);
    const mount = mounts.find((m) => dir === m.mountPath || dir.startsWith(`${m.mountPath}/`));
    expect(mount, `a volume mounted at spool.dir ${dir}`).toBeDefined();
    expect(mount.readOnly ?? false).toBe(false);
    const volume = podSpec(workload).volumes.find((v: any) => v.name === mount.name);
    expect(volume.emptyDir ?? volume.persistentVolumeClaim, 'an emptyDir or a PVC').toBeDefined();
    if (spool && volume.emptyDir?.sizeLimit) expect(bytes(volume.emptyDir.sizeLimit)).toBeGreaterThan(spool.maxBytes);
  });

  it('every container has CPU and memory requests and limits', () => {
    for (const w of workloads) {
      for (const c of containersOf(w)) {
        for (const kind of ['requests', 'limits']) {
          expect(Object.keys(c.resources?.[kind] ?? {}).sort(), `${w.metadata.name}/${c.name} ${kind}`).toEqual(['cpu', 'memory']);
        }
      }
    }
  });

  it('collector and worker have a PodDisruptionBudget that still lets a node drain', () => {
    for (const role of ['collector', 'worker']) {
      const w = falconetContainers.find((f) => roleOf(f.container) === role)!.workload;
      const pdbs = all('PodDisruptionBudget').filter((p) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels));
      expect(pdbs.length, `a PDB for ${role}`).toBe(1);
      const hpa = all('HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === w.metadata.name);
      const fewest = hpa ? hpa.spec.minReplicas : (w.spec.replicas ?? 1);
      expect(pdbs[0]!.spec.minAvailable, `${role}: minAvailable below the fewest replicas (${fewest})`).toBeLessThan(fewest);
    }
  });

  it('workers scale by a HorizontalPodAutoscaler that owns their replica count', () => {
    const worker = falconetContainers.find((f) => roleOf(f.container) === 'worker')!.workload;
    const hpas = all('HorizontalPodAutoscaler');
    expect(hpas.map((h) => h.spec.scaleTargetRef)).toEqual([{ apiVersion: 'apps/v1', kind: worker.kind, name: worker.metadata.name }]);
    // A `replicas` in the manifest would reset the HPA's choice on every apply.
    expect(worker.spec.replicas).toBeUndefined();
    expect(hpas[0]!.spec.minReplicas).toBeGreaterThanOrEqual(2);
  });

  it('every Falconet pod stops gracefully: a grace period longer than its preStop pause', () => {
    for (const { workload, container } of falconetContainers) {
      const grace = podSpec(workload).terminationGracePeriodSeconds;
      const pause = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
      expect(grace, container.name).toBeGreaterThanOrEqual(pause + 20);
    }
  });
});

describe('deploy/kubernetes: probes hit endpoints Falconet serves', () => {
  let collector: RunningCollector;
  let worker: { port: number; stop(): Promise<void> };
  let runningWorker: RunningWorker | undefined;
  let notReady: { status: number; body: unknown };
  const prefix = `fnt-k8s-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    // The real collector and worker metrics server, built from the manifests' own config.
    const c = falconetContainers.find((f) => roleOf(f.container) === 'collector')!;
    const doc = parse(configFileOf(c.workload, c.container).text);
    const env = { ...containerEnv(c.container, c.workload.metadata.namespace), REDIS_URL };
    const config = buildConfig({ ...doc, listen: { ...doc.listen, host: '127.0.0.1', port: 0 }, redis: { ...doc.redis, prefix } }, env);
    collector = await startCollector(config, pino({ level: 'silent' }), createMetrics());
    const metrics = createMetrics();
    const endpoints: WorkerEndpoints = {};
    worker = await startMetricsServer(metrics, '127.0.0.1', 0, endpoints);
    // Before its worker consumes, the metrics server answers /readyz with 503 and what is missing.
    const res = await fetch(`http://127.0.0.1:${worker.port}/readyz`);
    notReady = { status: res.status, body: await res.json() };
    runningWorker = await startWorker(config, pino({ level: 'silent' }), metrics);
    endpoints.ready = () => runningWorker!.ready();
  });
  afterAll(async () => {
    await collector?.stop();
    await runningWorker?.stop();
    await worker?.stop();
    await deletePrefix(prefix);
  });

  it('every liveness and readiness probe of collector and worker is an HTTP GET on its own port that answers 200', async () => {
    for (const { container } of falconetContainers) {
      const role = roleOf(container);
      for (const kind of ['livenessProbe', 'readinessProbe']) {
        const probe = container[kind]?.httpGet;
        expect(probe, `${role} ${kind}`).toBeDefined();
        const port = container.ports.find((p: any) => p.name === probe.port || p.containerPort === probe.port);
        expect(port, `${role} ${kind} port ${probe.port} is a containerPort`).toBeDefined();
        const base = role === 'collector' ? collector.url : `http://127.0.0.1:${worker.port}`;
        const res = await fetch(`${base}${probe.path}`);
        expect(res.status, `${role} ${kind} GET ${probe.path}`).toBe(200);
      }
    }
  });

  it('collector and worker are probed for liveness on /healthz and readiness on /readyz', () => {
    for (const { container } of falconetContainers) {
      expect(container.livenessProbe.httpGet.path, roleOf(container)).toBe('/healthz');
      expect(container.readinessProbe.httpGet.path, roleOf(container)).toBe('/readyz');
    }
  });

  it("the worker's /readyz says what is wrong while it does not consume", () => {
    expect(notReady).toEqual({ status: 503, body: { status: 'starting', config: 'loaded', router: 'not consuming (waiting for Redis)' } });
  });

  it('the Prometheus path annotation is served (/metrics answers 200)', async () => {
    for (const { workload, container } of falconetContainers) {
      const path = workload.spec.template.metadata.annotations['prometheus.io/path'];
      const base = roleOf(container) === 'collector' ? collector.url : `http://127.0.0.1:${worker.port}`;
      expect((await fetch(`${base}${path}`)).status, `${roleOf(container)} GET ${path}`).toBe(200);
    }
  });
});

describe('deploy/kubernetes/falco-values.yaml', () => {
  const values = parse(readFileSync(HELM_VALUES, 'utf8'));

  it("points Falco's http_output at the collector Service's DNS name and port", () => {
    const svc = one('Service', 'falconet');
    const url = new URL(values.falco.http_output.url);
    expect(values.falco.http_output.enabled).toBe(true);
    expect(url.protocol).toBe('http:');
    expect(url.hostname).toBe(`${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`);
    expect(svc.spec.ports.map((p: any) => p.port)).toContain(Number(url.port));
    expect(url.pathname).toBe('/');
    // No credentials until inbound auth (#11) exists: they would only look like protection.
    expect(url.username + url.password).toBe('');
  });

  it('makes Falco send JSON with output and tags, and turns the bundled Falcosidekick off', () => {
    expect(values.falco.json_output).toBe(true);
    expect(values.falco.json_include_output_property).toBe(true);
    expect(values.falco.json_include_tags_property).toBe(true);
    expect(values.falcosidekick.enabled).toBe(false);
  });
});
