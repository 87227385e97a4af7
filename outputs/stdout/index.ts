import type { OutputDefinition } from '../types.js';
import { stringifyJson } from '../../src/alert/json.js';

const options = {};

/** One JSON line per alert on standard output: the default output, needing nothing. */
export const stdoutOutput: OutputDefinition<typeof options> = {
  type: 'stdout',
  summary: 'print one JSON line per alert on standard output',
  options,
  batching: 'optional',
  create() {
    return {
      async send(alerts) {
        const text = alerts.map((a) => stringifyJson(a)).join('\n') + '\n';
        await new Promise<void>((resolve, reject) =>
          process.stdout.write(text, (err) => (err ? reject(err) : resolve())),
        );
      },
    };
  },
};
