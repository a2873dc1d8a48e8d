#!/usr/bin/env node
// The `hoplite` command as npm links it. A tracked file, so that `npm ci` on a fresh clone links
// `node_modules/.bin/hoplite` before anything is built (npm skips a bin whose file is missing);
// it runs the compiled CLI, or says how to build it.
try {
  await import('../dist/bin.js');
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/bin.js')) {
    process.stderr.write('error [HOPLITE_NOT_BUILT]: the hoplite CLI is not built; run `npm run build` at the repository root\n');
    process.exit(1);
  }
  throw err;
}
