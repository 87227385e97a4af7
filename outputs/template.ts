import Mustache from 'mustache';
import { alertNamespace, alertPod, type Alert } from '../src/alert/alert.js';
import { displayValue } from '../src/alert/json.js';

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

/** Throws an Error naming the problem when `template` is not valid mustache (unclosed section…). */
export function checkTemplate(template: string): void {
  Mustache.parse(template);
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

/** The instance's `title`, or the default `{{priority}}: {{rule}}`. */
export function renderTitle(config: { title?: string }, alert: Alert): string {
  return renderTemplate(config.title ?? DEFAULT_TITLE, alert);
}

/** The instance's `messageFormat`, or the alert's output text. */
export function renderMessage(config: { messageFormat?: string }, alert: Alert): string {
  return renderTemplate(config.messageFormat ?? DEFAULT_MESSAGE, alert);
}
