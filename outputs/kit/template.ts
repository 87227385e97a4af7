import Mustache from 'mustache';
import { alertNamespace, alertPod, type Alert } from '../../src/alert/alert.js';
import { displayValue } from '../../src/alert/json.js';

/**
 * Message templates shared by the chat outputs: `title` and `messageFormat` are mustache templates
 * (logic-less: no expressions, no code) rendered over a view of the alert. See docs/outputs/templates.md.
 */

export const DEFAULT_TITLE = '{{priority}}: {{rule}}';
export const DEFAULT_MESSAGE = '{{output}}';

const OUTPUT_FIELDS_PREFIX = 'output_fields.';

/**
 * Mustache splits names on dots to walk nested objects, but Falco field names contain dots
 * (`k8s.ns.name`). This context resolves `output_fields.<key>` against the flat map first, so
 * `{{output_fields.k8s.ns.name}}` works whatever other keys share its prefix. Sections push child
 * contexts through `push`, which we override so the lookup keeps working inside them.
 */
class AlertContext extends Mustache.Context {
  constructor(
    view: unknown,
    parent: Mustache.Context | undefined,
    private readonly fields: ReadonlyMap<string, string>,
  ) {
    super(view, parent);
  }

  override push(view: unknown): Mustache.Context {
    return new AlertContext(view, this, this.fields);
  }

  override lookup(name: string): unknown {
    if (name.startsWith(OUTPUT_FIELDS_PREFIX)) {
      const value = this.fields.get(name.slice(OUTPUT_FIELDS_PREFIX.length));
      if (value !== undefined) return value;
    }
    return super.lookup(name);
  }
}

/** Every output field as display text: numbers, booleans and bigints as JSON, null as ''. */
function displayFields(alert: Alert): Map<string, string> {
  const fields = new Map<string, string>();
  for (const [key, value] of Object.entries(alert.output_fields)) fields.set(key, displayValue(value));
  return fields;
}

/**
 * The names a template can use. Null-prototype objects so that `{{constructor}}` and friends
 * resolve to nothing rather than to Object's own members.
 */
function alertView(alert: Alert, fields: ReadonlyMap<string, string>): Record<string, unknown> {
  const view = Object.assign(Object.create(null) as Record<string, unknown>, {
    id: alert.id,
    rule: alert.rule,
    priority: alert.priority,
    output: alert.output ?? alert.message ?? '',
    hostname: alert.hostname ?? '',
    source: alert.source,
    tags: alert.tags.join(', '),
    time: alert.time,
    namespace: alertNamespace(alert) ?? '',
    pod: alertPod(alert) ?? '',
    // Set by the collector from the sender's token or client certificate (auth).
    tenant: fields.get('falconet.tenant') ?? '',
    cluster: fields.get('falconet.cluster') ?? '',
    // For iteration: {{#fields}}{{key}}={{value}} {{/fields}}
    fields: [...fields].map(([key, value]) => Object.assign(Object.create(null) as object, { key, value })),
  });
  return view;
}

/** The names a chat template's view has (alertView); `output_fields.<key>` is read too. */
export const CHAT_TEMPLATE_NAMES = ['id', 'rule', 'priority', 'output', 'hostname', 'source', 'tags', 'time', 'namespace', 'pod', 'tenant', 'cluster', 'fields'] as const;

/** What a template may name: the view's own names, any key under a prefix, and names inside sections. */
export interface TemplateVocabulary {
  names: readonly string[];
  /** Names starting with one of these (`output_fields.`) are accepted whatever follows. */
  prefixes: readonly string[];
  /** Names an iterated section adds for its items (`{{#fields}}{{key}}{{/fields}}`). */
  sectionItems?: Readonly<Record<string, readonly string[]>>;
  /** A hint for an unknown name, e.g. how output fields are spelt in this dialect. */
  hint?: string;
}

export const CHAT_TEMPLATE_VOCABULARY: TemplateVocabulary = {
  names: CHAT_TEMPLATE_NAMES,
  prefixes: [OUTPUT_FIELDS_PREFIX],
  sectionItems: { fields: ['key', 'value'] },
  hint: 'output fields are {{output_fields.k8s.ns.name}}',
};

type Token = [string, string, number, number, Token[]?];

/**
 * Throws an Error naming the problem when `template` is not valid mustache (unclosed section…) or
 * names something its view does not have (`{{ruel}}` would render as nothing on every alert).
 */
export function checkTemplate(template: string, vocabulary: TemplateVocabulary = CHAT_TEMPLATE_VOCABULARY): void {
  const tokens = Mustache.parse(template) as Token[];
  const known = (name: string, inSection: readonly string[]) =>
    name === '.' ||
    vocabulary.names.includes(name) ||
    vocabulary.prefixes.some((p) => name.startsWith(p) && name.length > p.length) ||
    inSection.includes(name);
  const walk = (list: Token[], inSection: readonly string[]): void => {
    for (const token of list) {
      const [type, name, , , children] = token;
      if (type === 'text' || type === '!' || type === '=' || type === '>') continue;
      if (!known(name, inSection)) {
        const hint = vocabulary.hint ? ` (${vocabulary.hint})` : '';
        throw new Error(`unknown name "{{${name}}}"; one of ${vocabulary.names.join(', ')}${hint}`);
      }
      if (children) walk(children, [...inSection, ...(vocabulary.sectionItems?.[name] ?? [])]);
    }
  };
  walk(tokens, []);
}

/**
 * Renders `template` over `alert` without HTML escaping: each destination escapes for its own
 * markup (Slack mrkdwn, Teams markdown) after rendering.
 */
export function renderTemplate(template: string, alert: Alert): string {
  const fields = displayFields(alert);
  const context = new AlertContext(alertView(alert, fields), undefined, fields);
  return Mustache.render(template, context, undefined, { escape: (value: unknown) => String(value) });
}

/** The instance's `title`, or the default `{{priority}}: {{rule}}`; the rule when it renders empty. */
export function renderTitle(config: { title?: string }, alert: Alert): string {
  return renderTemplate(config.title ?? DEFAULT_TITLE, alert).trim() || alert.rule;
}

/** The instance's `messageFormat`, or the alert's output text. */
export function renderMessage(config: { messageFormat?: string }, alert: Alert): string {
  return renderTemplate(config.messageFormat ?? DEFAULT_MESSAGE, alert);
}
