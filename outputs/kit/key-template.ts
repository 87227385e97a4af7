import { alertField, alertNamespace, alertPod, type Alert } from '../../src/alert/alert.js';
import { displayValue } from '../../src/alert/json.js';

/**
 * Subject, topic and routing-key templates of the broker outputs: `falco.{priority}.{rule}`. Each
 * `{name}` is replaced by the alert's value as a slug (lower case, runs of anything but a-z 0-9 _ -
 * turned into one `_`), so a value can never add a level or a wildcard (a rule named "Shell > pod"
 * must not become a NATS `>` wildcard). Literal text is kept as written and checked at load.
 */

export interface KeyTemplateSyntax {
  /** What the destination calls it, for error messages: "subject", "topic", "routing key". */
  what: string;
  /** The level separator (`.` for NATS and AMQP, `/` for MQTT): allowed in the literal text. */
  separator: string;
  /** Characters the literal text may not hold (wildcards, spaces). */
  forbidden: string;
  maxLength?: number;
}

const NAMES = ['rule', 'priority', 'source', 'hostname', 'namespace', 'pod', 'tenant', 'cluster'] as const;
const PLACEHOLDER = /\{([^{}]*)\}/g;
const FIELD_PREFIX = 'output_fields.';

export function checkKeyTemplate(template: string, syntax: KeyTemplateSyntax): void {
  for (const match of template.matchAll(PLACEHOLDER)) {
    const name = match[1]!;
    const known = (NAMES as readonly string[]).includes(name) || (name.startsWith(FIELD_PREFIX) && name.length > FIELD_PREFIX.length);
    if (!known) throw new Error(`unknown name "{${name}}" in the ${syntax.what}; one of ${NAMES.join(', ')} or output_fields.<key>`);
  }
  const literal = template.replace(PLACEHOLDER, '');
  if (/[{}]/.test(literal)) throw new Error(`unbalanced brace in the ${syntax.what} "${template}"`);
  const bad = [...literal].find((c) => syntax.forbidden.includes(c) || c.charCodeAt(0) < 0x21);
  if (bad !== undefined) throw new Error(`"${bad === ' ' ? 'a space' : bad}" is not allowed in a ${syntax.what}`);
  const levels = template.split(syntax.separator);
  if (levels.some((l) => l === '')) throw new Error(`the ${syntax.what} "${template}" has an empty level`);
}

/** A value as one level: never empty, never a separator or wildcard. */
export function slug(value: string): string {
  const s = value.toLowerCase().replace(/[^a-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
  return s === '' ? '_' : s.slice(0, 80);
}

function valueOf(alert: Alert, name: string): string {
  switch (name) {
    case 'namespace':
      return alertNamespace(alert) ?? '';
    case 'pod':
      return alertPod(alert) ?? '';
    case 'tenant':
      return displayValue(alert.output_fields['falconet.tenant']);
    case 'cluster':
      return displayValue(alert.output_fields['falconet.cluster']);
    default:
      return displayValue(alertField(alert, name));
  }
}

export function renderKeyTemplate(template: string, alert: Alert, syntax: KeyTemplateSyntax): string {
  const out = template.replace(PLACEHOLDER, (_m, name: string) => slug(valueOf(alert, name)));
  return syntax.maxLength ? out.slice(0, syntax.maxLength) : out;
}
