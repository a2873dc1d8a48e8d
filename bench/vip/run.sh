#!/usr/bin/env bash
# VIP allocator benchmark (see bench/vip/run.ts for what it measures). Runs the TypeScript sources
# directly (the @hoplite/source condition, tap's TypeScript loader), like the tests do.
set -euo pipefail
cd "$(dirname "$0")/../.."
export TS_NODE_TRANSPILE_ONLY=1 TS_NODE_PROJECT=tsconfig.test.json
exec node --conditions=@hoplite/source --import=@tapjs/typescript/import bench/vip/run.ts "$@"
