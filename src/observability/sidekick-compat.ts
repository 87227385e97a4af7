import { Counter, type Registry } from 'prom-client';

/**
 * `metrics.sidekickCompat: true`: Falcosidekick's counter names beside Falconet's, so dashboards
 * built on them keep working (falcosidekick.md §5, stats_prometheus.go):
 *
 * - falcosecurity_falcosidekick_inputs_total{source="requests", status="accepted"|"rejected"}
 * - falcosecurity_falcosidekick_outputs_total{destination="<output name>", status="ok"|"error"}
 *
 * Derived at scrape time from Falconet's own counters, so no code path counts twice. `accepted`
 * counts alerts (Falco posts one per request, as Falcosidekick counts them); `rejected` counts
 * refused requests (400, 401, 413, 503…). `destination` is the output instance name, which
 * `falconet import-sidekick` sets to Falcosidekick's name (slack, alertmanager…); `error` counts
 * alerts in failed sends, retried or not, as Falcosidekick counts each failed post.
 */
export function registerSidekickCompat(registry: Registry): void {
  const values = async (name: string) => {
    const metric = registry.getSingleMetric(name);
    return metric ? (await metric.get()).values : [];
  };
  new Counter({
    name: 'falcosecurity_falcosidekick_inputs_total',
    help: 'Falcosidekick-compatible: events received, by status (accepted, rejected)',
    labelNames: ['source', 'status'] as const,
    registers: [registry],
    async collect() {
      // Read first, then reset and add with no await between: two scrapes at once must not both add.
      const [received, requests] = await Promise.all([values('falconet_alerts_received_total'), values('falconet_ingest_requests_total')]);
      this.reset();
      let accepted = 0;
      let rejected = 0;
      // Accepted into Redis or the spool: both answered 200.
      for (const v of received) if (v.labels.status === 'accepted' || v.labels.status === 'spooled') accepted += v.value;
      for (const v of requests) if (v.labels.result !== 'accepted') rejected += v.value;
      this.inc({ source: 'requests', status: 'accepted' }, accepted);
      this.inc({ source: 'requests', status: 'rejected' }, rejected);
    },
  });
  new Counter({
    name: 'falcosecurity_falcosidekick_outputs_total',
    help: 'Falcosidekick-compatible: alerts sent per destination, by status (ok, error)',
    labelNames: ['destination', 'status'] as const,
    registers: [registry],
    async collect() {
      const deliveries = await values('falconet_deliveries_total');
      this.reset();
      for (const v of deliveries) {
        if (v.value === 0) continue;
        const status = v.labels.status === 'ok' ? 'ok' : 'error';
        this.inc({ destination: String(v.labels.output), status }, v.value);
      }
    },
  });
}
