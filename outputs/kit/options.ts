import { z } from 'zod';
import { CHAT_TEMPLATE_VOCABULARY, checkTemplate, type TemplateVocabulary } from './template.js';
import { duration } from './duration.js';
import { checkKeyTemplate, type KeyTemplateSyntax } from './key-template.js';

/**
 * Option fragments shared by outputs of one kind. An output spreads the fragments it speaks
 * (`{ ...httpOptions, ...chatOptions, channel: … }`), so a key means the same thing everywhere and
 * a key an output does not speak is refused (chat keys on Elasticsearch, say).
 */

/** TLS towards the destination. `ca`, `cert`, `key`: PEM text or a path to a PEM file. */
export const tlsOptions = z.strictObject({
  ca: z.string().min(1).optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  /** Accept any server certificate: tests and emergencies only. */
  insecureSkipVerify: z.boolean().default(false),
});
export type TlsOptions = z.infer<typeof tlsOptions>;

export const httpUrl = z.url({ protocol: /^https?$/ });

export const httpAuth = z.union([
  z.strictObject({ username: z.string(), password: z.string() }),
  z.strictObject({ bearer: z.string().min(1) }),
]);

/** How an HTTP output reaches its destination, whatever it sends. */
export const httpTransportOptions = {
  /** Extra request headers, e.g. Authorization: "Bearer ${SIEM_TOKEN}". */
  headers: z.record(z.string(), z.string()).default({}),
  tls: tlsOptions.optional(),
  /** An HTTP(S) proxy for this output's requests (CONNECT for https destinations). */
  proxy: z.url({ protocol: /^https?$/ }).optional(),
  /** gzip request bodies (Content-Encoding: gzip); worth it for batched stores over slow links. */
  gzip: z.boolean().default(false),
};

/** An HTTP destination with its own URL and optional basic or bearer auth. */
export const httpOptions = {
  url: httpUrl,
  ...httpTransportOptions,
  auth: httpAuth.optional(),
};

export type HttpTransportConfig = {
  headers: Record<string, string>;
  tls?: TlsOptions;
  proxy?: string;
  gzip: boolean;
  auth?: z.infer<typeof httpAuth>;
  concurrency: number;
};

/** Marks template options, so the conformance suite finds every one and tries a typo in it. */
const TEMPLATE_META = 'falconetTemplate';

type TemplateKind = 'mustache' | 'key';

/** A template string checked at config load by `check` (which throws the problem), tagged with its kind. */
function checkedTemplate(kind: TemplateKind, check: (value: string) => void, prefix = '') {
  return z
    .string()
    .min(1)
    .superRefine((value, ctx) => {
      try {
        check(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `${prefix}${(err as Error).message}` });
      }
    })
    .meta({ [TEMPLATE_META]: kind });
}

/** A mustache template checked at config load (syntax and names), so a typo fails `falconet check`. */
export function mustacheTemplate(vocabulary: TemplateVocabulary = CHAT_TEMPLATE_VOCABULARY) {
  return checkedTemplate('mustache', (value) => checkTemplate(value, vocabulary), 'not a valid template: ');
}

/** A subject / topic / routing-key template (`falco.{priority}.{rule}`), checked at load. */
export function keyTemplate(syntax: KeyTemplateSyntax) {
  return checkedTemplate('key', (value) => checkKeyTemplate(value, syntax));
}

/** The option keys of a shape that hold templates (through optional and default), with their kind. */
export function templateKeys(shape: z.ZodRawShape): Array<{ key: string; kind: TemplateKind }> {
  const out: Array<{ key: string; kind: TemplateKind }> = [];
  for (const [key, schema] of Object.entries(shape)) {
    let s: z.ZodType | undefined = schema as z.ZodType;
    while (s) {
      const kind = z.globalRegistry.get(s)?.[TEMPLATE_META];
      if (kind === 'mustache' || kind === 'key') {
        out.push({ key, kind });
        break;
      }
      const def = s._zod.def as { innerType?: z.ZodType };
      s = def.innerType;
    }
  }
  return out;
}

/** Chat destinations: what the message says. See docs/outputs/templates.md. */
export const chatOptions = {
  /** Mustache template for the title; default `{{priority}}: {{rule}}`. */
  title: mustacheTemplate().optional(),
  /** Mustache template for the message text; default the alert's output text. */
  messageFormat: mustacheTemplate().optional(),
};

/** For chat destinations whose message text can notify people (not Teams: it needs entities). */
export const mentionOptions = {
  /** Put in front of every message as written, in the destination's syntax (`<!here>`, `@channel`, `<@U024BE7LH>`). */
  mentions: z.array(z.string().min(1)).max(50).default([]),
};

export type ChatConfig = { title?: string; messageFormat?: string };

/** The `mentions` a destination would show as plain text (not matching `valid`): one problem each, with `fix` (what it takes instead). */
export function mentionProblems(mentions: readonly string[], valid: RegExp, fix: string): Array<{ key: string; message: string }> {
  return mentions.filter((m) => !valid.test(m)).map((m) => ({ key: 'mentions', message: `"${m}" ${fix}` }));
}

/** The mentions as the start of a message: '' or the tokens and a space. */
export function mentionPrefix(config: { mentions?: readonly string[] }): string {
  return config.mentions && config.mentions.length > 0 ? `${config.mentions.join(' ')} ` : '';
}

/**
 * A broker or daemon connection. `url` carries the scheme the output accepts (nats://, mqtts://,
 * amqps://, tcp://…); credentials may also come in the URL, but the separate keys keep them out of
 * logs more reliably. One rule for every broker output: a refused login on the persistent link
 * is retryable (`auth_error`): the link keeps reconnecting and a rotated credential fixes it, so
 * alerts wait in the queue rather than dead-letter during a rotation; a refusal of one message
 * (a topic the ACL denies) is permanent.
 */
export function brokerOptions(protocols: RegExp) {
  return {
    url: z.url({ protocol: protocols }),
    tls: tlsOptions.optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    /** How long one connection attempt may take before it counts as failed. */
    connectTimeout: duration.default(10_000),
  };
}
