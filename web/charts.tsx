import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { getJson } from './api.js';
// The API's answer type, from the server code (a type only: nothing of src/ is bundled).
import type { Stats } from '../src/ui/stats.js';


const COLOURS: Record<string, string> = {
  Emergency: '#b00020', Alert: '#d32f2f', Critical: '#e64a19', Error: '#f57c00',
  Warning: '#fbc02d', Notice: '#1e88e5', Informational: '#43a047', Debug: '#9e9e9e',
};
const SPANS: Record<string, number> = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };

export function Charts({ fail }: { fail: (e: unknown) => void }) {
  const [span, setSpan] = useState('1h');
  const [stats, setStats] = useState<Stats | null>(null);
  useEffect(() => {
    const load = () => getJson<Stats>(`/api/stats?since=${Date.now() - SPANS[span]!}`).then(setStats, fail);
    void load();
    const timer = setInterval(load, 15_000);
    return () => clearInterval(timer);
  }, [span, fail]);
  return (
    <section class="charts" aria-label="charts">
      <p>
        {Object.keys(SPANS).map((s) => <button class={s === span ? 'tab active' : 'tab'} aria-pressed={s === span} onClick={() => setSpan(s)}>last {s}</button>)}
        {stats && <span data-testid="stats-total"> {stats.total} alerts</span>}
      </p>
      {stats && <OverTime stats={stats} />}
      {stats && (
        <div class="bars">
          <Bars title="Top rules" items={stats.topRules} />
          <Bars title="By source" items={stats.bySource} />
          <Bars title="By namespace" items={stats.byNamespace} />
          <Bars title="By priority" items={Object.entries(stats.byPriority).map(([name, count]) => ({ name, count }))} />
        </div>
      )}
    </section>
  );
}

/** Alerts over time by priority: uPlot, one series per priority seen. */
function OverTime({ stats }: { stats: Stats }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const priorities = Object.keys(COLOURS).filter((p) => stats.byPriority[p]);
    const xs = stats.overTime.map((b) => b.t / 1000);
    const data: uPlot.AlignedData = [xs, ...priorities.map((p) => stats.overTime.map((b) => b.counts[p] ?? 0))];
    const width = Math.max(280, el.current.clientWidth);
    const plot = new uPlot(
      {
        width,
        height: 220,
        series: [{}, ...priorities.map((p) => ({ label: p, stroke: COLOURS[p], fill: `${COLOURS[p]}33`, width: 2 }))],
        axes: [{ stroke: 'currentColor' }, { stroke: 'currentColor' }],
      },
      data,
      el.current,
    );
    return () => plot.destroy();
  }, [stats]);
  return <div class="over-time" ref={el} aria-label="alerts over time by priority" />;
}

function Bars({ title, items }: { title: string; items: Array<{ name: string; count: number }> }) {
  const max = Math.max(1, ...items.map((i) => i.count));
  return (
    <div class="bar-list">
      <h3>{title}</h3>
      {items.length === 0 ? <p>none</p> : items.map((i) => (
        <div class="bar" title={`${i.name}: ${i.count}`}>
          <span class="bar-fill" style={{ width: `${(100 * i.count) / max}%` }} />
          <span class="bar-label">{i.name}</span>
          <span class="bar-count">{i.count}</span>
        </div>
      ))}
    </div>
  );
}
