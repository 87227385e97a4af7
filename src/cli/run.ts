// Entry point for `tsx src/cli/run.ts …` (tests and development); bin/falconet.js runs the build.
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
