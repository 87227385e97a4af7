import { afterEach } from 'vitest';
import type { FalconetConfig } from '../../src/config/load.js';
import { CaptureServer } from './capture-server.js';
import { startPipeline, type Pipeline } from './harness.js';

/**
 * Everything a test starts is stopped after it, newest first (the pipeline before the capture
 * servers it delivers to), so no test leaks servers, workers or Redis keys into the next.
 */
export function useRig() {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  return {
    async capture(): Promise<CaptureServer> {
      const c = await new CaptureServer().start();
      stops.push(() => c.stop());
      return c;
    },
    async pipeline(config: FalconetConfig, opts?: { worker?: boolean }): Promise<Pipeline> {
      const p = await startPipeline(config, opts);
      stops.push(() => p.stop());
      return p;
    },
  };
}
