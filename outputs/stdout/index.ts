import { defineOutput } from '../kit/define.js';
import { stringifyJson } from '../../src/alert/json.js';

const options = {};
const LINE_SEPARATORS = /[\u2028\u2029]/g;
const escapeSeparator = (c: string) => (c === '\u2028' ? '\\u2028' : '\\u2029');

/** One JSON line per alert on standard output: the default output, needing nothing. */
export const stdoutOutput = defineOutput({
  type: 'stdout',
  summary: 'print one JSON line per alert on standard output',
  transport: 'local',
  options,
  batching: 'optional',
  create() {
    return {
      async send(alerts) {
        // JSON escapes \n and \r; U+2028/2029 it leaves raw, and some line readers split on them.
        const text = alerts.map((a) => stringifyJson(a).replace(LINE_SEPARATORS, escapeSeparator)).join('\n') + '\n';
        await new Promise<void>((resolve, reject) =>
          process.stdout.write(text, (err) => (err ? reject(err) : resolve())),
        );
      },
    };
  },
});
