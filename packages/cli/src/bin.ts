#!/usr/bin/env node
/** The `hoplite` binary: runs main() and exits with its code. */
import { applyHeapDefaults } from './serve/heap.js';

// Before anything else allocates: V8's young generation stays at its initial size and the old one
// grows by 20 % between full GCs (see serve/heap.ts; node flags about them given by the user win).
applyHeapDefaults(process.execArgv, process.env['NODE_OPTIONS']);
const { main } = await import('./main.js');

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
