import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { outputDefinition, outputTypes } from '../../outputs/index.js';
import { outputConfigSchema } from '../../outputs/kit/define.js';
import type { OutputDefinition, OutputInstanceConfig } from '../../outputs/kit/types.js';
import type { Priority } from '../alert/priority.js';
import { compileRoutes, type CompiledRoute } from '../router/matcher.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { rootSchema, type AuthConfig, type RouteConfig } from './schema.js';
import { substituteSecrets } from './substitute.js';

export interface OutputInstance<Options extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  definition: OutputDefinition<Options>;
  config: OutputInstanceConfig<Options>;
  /** Alerts per delivery job: 1 unless the instance batches. */
  batchSize: number;
  batchMaxBytes: number;
  batchInterval: number;
}

export interface FalconetConfig {
  listen: {
    host: string;
    port: number;
    maxBodySize: number;
    headersTimeout: number;
    requestTimeout: number;
    tls?: { cert: string; key: string; ca?: string; requireClientCert: boolean };
    plain?: { port: number; host?: string; paths: string[] };
  };
  auth: AuthConfig;
  redis: {
    url: string;
    prefix: string;
    embedded: boolean;
    tls?: { ca?: string; cert?: string; key?: string; insecureSkipVerify: boolean };
    sentinels?: Array<{ host: string; port: number }>;
    sentinelName?: string;
    sentinelUsername?: string;
    sentinelPassword?: string;
    cluster?: Array<{ host: string; port: number }>;
    requireDurable: boolean;
    waitReplicas: number;
  };
  customTags: string[];
  templatedFields: Record<string, string>;
  minimumPriority: Priority;
  customFields: Record<string, string>;
  dedup: { window: number };
  router: { concurrency: number; directDelivery: boolean };
  worker: { lockDuration: number; stalledInterval: number; maxStalledCount: number; metricsPort: number };
  spool: { dir: string; maxBytes: number; deadline: number };
  outputs: Record<string, OutputInstance>;
  routes: RouteConfig[];
  compiledRoutes: CompiledRoute[];
  dlq: { maxAge: number; maxPerOutput: number };
  ui: { enabled: boolean; users: Array<{ name: string; passwordHash: string; tenant?: string; namespaces?: string[] }>; retention: { maxAlerts: number; maxBytes: number; maxAge: number } };
  metrics: { sidekickCompat: boolean; alertLabels: string[]; alertLabelValues: number };
  log: { level: string };
}

export const DEFAULT_CONFIG_PATH = 'config/falconet.yaml';

export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.FALCONET_CONFIG ?? DEFAULT_CONFIG_PATH;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): FalconetConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: [], message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code}` }], path);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError([{ path: [], message: `not valid YAML: ${(err as Error).message}` }], path);
  }
  try {
    return buildConfig(raw, env);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.issues, path);
    throw err;
  }
}

/** Validates a parsed config document (YAML already read) and returns it frozen. */
export function buildConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): FalconetConfig {
  const substituted = substituteSecrets(raw ?? {}, env) as Record<string, unknown>;
  if (env.REDIS_URL) {
    const redis = (substituted.redis ?? {}) as Record<string, unknown>;
    substituted.redis = { ...redis, url: env.REDIS_URL };
  }
  const root = rootSchema.safeParse(substituted);
  if (!root.success) throw new ConfigError(zodIssues(root.error, []));

  const issues: ConfigIssue[] = [];
  const outputs: Record<string, OutputInstance> = {};
  for (const [name, value] of Object.entries(root.data.outputs)) {
    const instance = parseOutput(name, value, issues);
    if (instance) outputs[name] = instance;
  }
  for (const [i, route] of root.data.routes.entries()) {
    for (const [j, out] of route.outputs.entries()) {
      if (!(out in root.data.outputs)) {
        issues.push({ path: ['routes', i, 'outputs', j], message: `output "${out}" is not defined under outputs` });
      }
    }
  }
  const compiled = compileRoutes(root.data.routes, issues);
  // Route custom fields travel with the compiled route (src/router/stages/route.ts).
  for (const [i, route] of root.data.routes.entries()) if (route.customFields) Object.assign(compiled[i]!, { customFields: route.customFields });
  if (issues.length > 0) throw new ConfigError(issues);
  return deepFreeze({ ...root.data, outputs, compiledRoutes: compiled });
}

/**
 * Validates one output instance on its own (tests, `falconet check`); throws ConfigError. Given
 * the definition, the result is typed as that output's config.
 */
export function parseOutputInstance<Options extends z.ZodRawShape = z.ZodRawShape>(
  name: string,
  value: unknown,
  expected?: OutputDefinition<Options>,
): OutputInstance<Options> {
  const issues: ConfigIssue[] = [];
  const instance = parseOutput(name, value, issues);
  if (!instance) throw new ConfigError(issues);
  if (expected && instance.definition !== (expected as OutputDefinition)) throw new Error(`"${name}" is not of type ${expected.type}`);
  return instance as unknown as OutputInstance<Options>;
}

function parseOutput(name: string, value: unknown, issues: ConfigIssue[]): OutputInstance | undefined {
  const at = ['outputs', name];
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type !== 'string') {
    issues.push({ path: [...at, 'type'], message: `required; one of ${outputTypes().join(', ')}` });
    return undefined;
  }
  const definition = outputDefinition(type);
  if (!definition) {
    issues.push({ path: [...at, 'type'], message: `unknown output type "${type}"; one of ${outputTypes().join(', ')}` });
    return undefined;
  }
  const parsed = outputConfigSchema(definition).safeParse(value);
  if (!parsed.success) {
    issues.push(...zodIssues(parsed.error, at));
    return undefined;
  }
  const config = parsed.data as OutputInstanceConfig;
  const problems = definition.check?.(config) ?? [];
  for (const p of problems) issues.push({ path: [...at, ...p.key.split('.')], message: p.message });
  if (problems.length > 0) return undefined;
  if (!config.rateLimit && definition.defaultRateLimit) config.rateLimit = { ...definition.defaultRateLimit };
  if (definition.batching === 'single' && config.batch) {
    issues.push({ path: [...at, 'batch'], message: `output type ${type} sends one alert per request; remove batch` });
    return undefined;
  }
  const defaults = definition.batching === 'always' ? definition.defaultBatch : undefined;
  const batch = config.batch ?? (defaults ? { maxBytes: 4 * 1024 * 1024, ...defaults } : undefined);
  return {
    name,
    definition,
    config,
    batchSize: batch?.size ?? 1,
    batchMaxBytes: batch?.maxBytes ?? Number.POSITIVE_INFINITY,
    batchInterval: batch?.interval ?? 0,
  };
}

function zodIssues(error: z.ZodError, prefix: PropertyKey[]): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...path, key], message: 'unknown key' });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

// Output definitions hold zod schemas, which cache state lazily: they are shared code, not config.
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const [key, v] of Object.entries(value)) if (key !== 'definition') deepFreeze(v);
  }
  return value;
}
