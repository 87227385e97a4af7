import { describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/alert/alert.js';
import { withCustomFields } from '../../../src/delivery/stages/custom-fields.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createEnrichStage } from '../../../src/router/stages/enrich.js';
import { createRouteStage } from '../../../src/router/stages/route.js';
import { ConfigError } from '../../../src/config/errors.js';
import { configOf, makeAlert } from './make-alert.js';

describe('enrichment (Falcosidekick parity)', () => {
  it('customFields, then customTags, then templatedFields rendered with mustache over the alert', () => {
    const config = configOf({
      customFields: { cluster: 'prod-eu-1' },
      customTags: ['migrated', 'shell'],
      templatedFields: {
        owner: '{{#output_fields.k8s.ns.name}}{{output_fields.k8s.ns.name}}{{/output_fields.k8s.ns.name}}{{^output_fields.k8s.ns.name}}none{{/output_fields.k8s.ns.name}}',
        where: '{{output_fields.cluster}}/{{rule}}',
      },
      outputs: { out: { type: 'stdout' } },
      routes: [{ outputs: ['out'] }],
    });
    const enrich = createEnrichStage(config);
    const [a, b] = enrich([makeAlert({ output_fields: { 'k8s.ns.name': 'team1' } }), makeAlert()]);
    expect(a!.output_fields).toEqual({ 'k8s.ns.name': 'team1', cluster: 'prod-eu-1', owner: 'team1', where: 'prod-eu-1/Terminal shell in container' });
    expect(b!.output_fields.owner).toBe('none');
    // Appended once: a tag the alert already has is not repeated.
    expect(a!.tags).toEqual(['container', 'shell', 'migrated']);
  });

  it('a templated field that is not valid mustache refuses the config, naming the key', () => {
    expect(() => configOf({ templatedFields: { bad: '{{#open}}' }, outputs: { out: { type: 'stdout' } }, routes: [{ outputs: ['out'] }] })).toThrow(ConfigError);
    try {
      configOf({ templatedFields: { bad: '{{#open}}' }, outputs: { out: { type: 'stdout' } }, routes: [{ outputs: ['out'] }] });
    } catch (err) {
      expect((err as ConfigError).message).toContain('templatedFields.bad');
    }
  });

  it('a route\'s customFields mark the alerts it matches; a later continue route can match on them', () => {
    const config = configOf({
      outputs: { team1: { type: 'stdout' }, audit: { type: 'stdout' }, rest: { type: 'stdout' } },
      routes: [
        { match: { 'output_fields.k8s.ns.name': 'team1' }, outputs: ['team1'], customFields: { team: 'one' }, continue: true },
        { match: { 'output_fields.team': 'one' }, outputs: ['audit'] },
        { outputs: ['rest'] },
      ],
    });
    const route = createRouteStage(config.compiledRoutes, config.outputs);
    const mine = makeAlert({ output_fields: { 'k8s.ns.name': 'team1' } });
    const other = makeAlert({ output_fields: { 'k8s.ns.name': 'team2' } });
    const { byOutput } = route([mine, other]);
    expect([...byOutput.keys()].sort()).toEqual(['audit', 'rest', 'team1']);
    expect(mine.output_fields.team).toBe('one');
    expect(other.output_fields.team).toBeUndefined();
    expect(byOutput.get('rest')).toEqual([other]);
  });

  it('an output\'s customFields reach that output\'s payload only', async () => {
    const config = configOf({
      outputs: { siem: { type: 'stdout', customFields: { destination: 'siem' } }, chat: { type: 'stdout' } },
      routes: [{ outputs: ['siem', 'chat'] }],
    });
    const seen: Record<string, Alert[]> = {};
    const recorder = (name: string) => ({
      async send(alerts: Alert[]) {
        seen[name] = alerts;
      },
    });
    const alert = makeAlert({ output_fields: { x: 1 } });
    // The same object for both, as the router's first attempts hand it to every output.
    await withCustomFields(recorder('siem'), config.outputs.siem!.config.customFields).send([alert], { signal: new AbortController().signal });
    await withCustomFields(recorder('chat'), config.outputs.chat!.config.customFields).send([alert], { signal: new AbortController().signal });
    expect(seen.siem![0]!.output_fields).toEqual({ x: 1, destination: 'siem' });
    expect(seen.chat![0]!.output_fields).toEqual({ x: 1 });
    expect(alert.output_fields).toEqual({ x: 1 });
  });
});

describe('metrics.sidekickCompat', () => {
  it('exports Falcosidekick\'s inputs and outputs counters from Falconet\'s own, only when on', async () => {
    const on = createMetrics({ sidekickCompat: true });
    on.requests.inc({ result: 'accepted' }, 3);
    on.countReceived(['{"priority":"Warning"}', '{"priority":"Warning"}'], 'accepted');
    on.countReceived(['{"priority":"Warning"}'], 'spooled');
    on.requests.inc({ result: 'rejected' });
    on.requests.inc({ result: 'too_large' });
    on.deliveries.inc({ output: 'slack', status: 'ok', reason: 'none' }, 2);
    on.deliveries.inc({ output: 'slack', status: 'retry', reason: 'server_error' });
    on.deliveries.inc({ output: 'slack', status: 'failed', reason: 'client_error' });
    const text = await on.registry.metrics();
    expect(text).toContain('falcosecurity_falcosidekick_inputs_total{source="requests",status="accepted"} 3');
    expect(text).toContain('falcosecurity_falcosidekick_inputs_total{source="requests",status="rejected"} 2');
    expect(text).toContain('falcosecurity_falcosidekick_outputs_total{destination="slack",status="ok"} 2');
    expect(text).toContain('falcosecurity_falcosidekick_outputs_total{destination="slack",status="error"} 2');
    expect(text).toContain('falconet_deliveries_total{output="slack",status="ok",reason="none"} 2');
    // Scraping twice does not add up, nor do two scrapes at once.
    expect(await on.registry.metrics()).toContain('falcosecurity_falcosidekick_outputs_total{destination="slack",status="ok"} 2');
    for (const scraped of await Promise.all([on.registry.metrics(), on.registry.metrics()])) {
      expect(scraped).toContain('falcosecurity_falcosidekick_outputs_total{destination="slack",status="ok"} 2');
      expect(scraped).toContain('falcosecurity_falcosidekick_inputs_total{source="requests",status="accepted"} 3');
    }
    expect(await createMetrics().registry.metrics()).not.toContain('falcosecurity_falcosidekick');
  });
});
