#!/usr/bin/env bash
# VIP-zone benchmark (see bench/vip-zone/README.md). Builds the CLI (a no-op when it is up to date;
# it builds @hoplite/vip and @hoplite/dns too), then runs the plain-ESM harness against the built
# packages: `hoplite serve` is packages/cli/dist/bin.js, the allocator is @hoplite/vip's dist.
set -euo pipefail
cd "$(dirname "$0")/../.."
npx tsc -b packages/cli
exec node bench/vip-zone/run.mjs "$@"
