#!/usr/bin/env node
/** The `hoplite` binary: runs main() and exits with its code. */
import { main } from './main.js';

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  waitForStop: () =>
    new Promise<string>((resolve) => {
      const on = (signal: string): void => {
        process.off('SIGTERM', on);
        process.off('SIGINT', on);
        resolve(signal);
      };
      process.on('SIGTERM', on);
      process.on('SIGINT', on);
    }),
});
// Let stdout drain, then exit: a library handle left open must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
