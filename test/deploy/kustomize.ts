import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';

/**
 * Reads a kustomization the way `kubectl apply -k` does, for the subset our manifests use
 * (resources: files and folders; namespace; configMapGenerator with files; images by name and tag). Anything
 * else in a kustomization.yaml is an error, so the test never silently ignores what kustomize
 * would apply.
 */

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
}

export interface Loaded {
  /** Every object the kustomization produces, with the file it came from (generated: the kustomization). */
  objects: Array<{ file: string; object: K8sObject }>;
  /** Every file read: kustomizations, resources, generator inputs. */
  files: Set<string>;
  images: Array<{ name: string; newName?: string; newTag?: string }>;
}

const KNOWN_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'configMapGenerator', 'images']);

export function loadKustomization(dir: string): Loaded {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${dir}: no kustomization.yaml`);
  const k = parseDocuments(file)[0] as Record<string, any>;
  if (k.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || k.kind !== 'Kustomization') {
    throw new Error(`${file}: not a kustomize.config.k8s.io/v1beta1 Kustomization`);
  }
  for (const key of Object.keys(k)) {
    if (!KNOWN_KEYS.has(key)) throw new Error(`${file}: "${key}" is not understood by this test's loader`);
  }
  const loaded: Loaded = { objects: [], files: new Set([file]), images: [...(k.images ?? [])] };
  for (const entry of (k.resources ?? []) as string[]) {
    const path = resolve(dir, entry);
    if (!existsSync(path)) throw new Error(`${file}: resource "${entry}" does not exist`);
    if (statSync(path).isDirectory()) {
      const inner = loadKustomization(path);
      loaded.objects.push(...inner.objects);
      inner.files.forEach((f) => loaded.files.add(f));
      loaded.images.push(...inner.images);
    } else {
      loaded.files.add(path);
      for (const object of parseDocuments(path)) loaded.objects.push({ file: path, object: object as K8sObject });
    }
  }
  for (const gen of (k.configMapGenerator ?? []) as Array<{ name: string; files?: string[] }>) {
    const data: Record<string, string> = {};
    for (const f of gen.files ?? []) {
      const path = resolve(dir, f);
      if (!existsSync(path)) throw new Error(`${file}: configMapGenerator file "${f}" does not exist`);
      loaded.files.add(path);
      data[basename(f)] = readFileSync(path, 'utf8');
    }
    loaded.objects.push({ file, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: gen.name }, data } });
  }
  for (const image of (k.images ?? []) as Loaded['images']) {
    for (const { object } of loaded.objects) {
      const pod = object.spec?.template?.spec;
      for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
        const [name, tag] = String(c.image).split(':');
        if (name === image.name) c.image = `${image.newName ?? name}${image.newTag ?? tag ? `:${image.newTag ?? tag}` : ''}`;
      }
    }
  }
  if (k.namespace) {
    // As kustomize does: a Namespace object is renamed to it, every other object is put in it.
    for (const { object } of loaded.objects) {
      if (object.kind === 'Namespace') object.metadata.name = k.namespace;
      else object.metadata.namespace = k.namespace;
    }
  }
  return loaded;
}

function parseDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${file}: empty`);
  const out: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export const rel = (root: string, file: string) => relative(root, file);

type Model = { validate(): void };
const MODELS: Record<string, new (data: any) => Model> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

/**
 * Validates one object against the Kubernetes API schema of its kind (kubernetes-models, compiled
 * from the OpenAPI spec) and, like `kubectl apply --validate=strict`, rejects fields the schema
 * does not define: the generated validators ignore unknown properties, so a typo such as
 * `readinesProbe` would otherwise pass. Unknown fields are found by watching which properties
 * the validator reads: it reads every property its schema defines and enumerates only maps.
 */
export function validateObject(object: K8sObject): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}: add it to MODELS`);
  const model = new Model(object);
  const watch = new Map<object, { read: Set<PropertyKey>; enumerated: boolean; path: string }>();
  const wrap = (value: unknown, path: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const seen = { read: new Set<PropertyKey>(), enumerated: false, path };
    watch.set(value, seen);
    return new Proxy(value, {
      get(target, key, receiver) {
        seen.read.add(key);
        const v = Reflect.get(target, key, receiver);
        return typeof key === 'string' && Object.hasOwn(target, key) ? wrapped(v, `${path}/${key}`) : v;
      },
      ownKeys(target) {
        seen.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
  };
  const proxies = new Map<object, unknown>();
  const wrapped = (v: unknown, path: string) => {
    if (v === null || typeof v !== 'object') return v;
    if (!proxies.has(v)) proxies.set(v, wrap(v, path));
    return proxies.get(v);
  };
  model.validate.call(wrapped(model, ''));
  const unknown: string[] = [];
  for (const [value, seen] of watch) {
    if (seen.enumerated || Array.isArray(value)) continue;
    for (const key of Object.keys(value)) if (!seen.read.has(key)) unknown.push(`${seen.path}/${key}`);
  }
  if (unknown.length > 0) throw new Error(`unknown field(s): ${unknown.join(', ')}`);
}
