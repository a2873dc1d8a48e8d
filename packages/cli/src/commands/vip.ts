/**
 * `hoplite vip ...`: the allocator's admin commands. Each subcommand lives in ./vip/<name>.ts;
 * what they share (config, store, output shapes) in ../vip/. docs/cli.md is the reference.
 *
 * Exit codes: 0 success; 2 bad input (usage, malformed name/label/port/address, address outside
 * the pools, bad file); 1 runtime failure (store unreachable, pool exhausted, address taken, not
 * found, check problems remaining). Errors are thrown (coded) and printed by main().
 */
import type { CommandModule } from 'yargs';
import type { Io } from '../main.js';
import { allocateCommand } from './vip/allocate.js';
import { checkCommand } from './vip/check.js';
import { exportCommand } from './vip/export.js';
import { fromAppCommand } from './vip/from-app.js';
import { getCommand } from './vip/get.js';
import { importCommand } from './vip/import.js';
import { listCommand } from './vip/list.js';
import { releaseCommand } from './vip/release.js';
import { reserveCommand } from './vip/reserve.js';
import { statsCommand } from './vip/stats.js';

/** The subcommands, in the order `hoplite vip --help` lists them. */
export const VIP_SUBCOMMANDS = ['allocate', 'release', 'reserve', 'get', 'list', 'from-app', 'stats', 'export', 'import', 'check'] as const;

export function vipCommand(io: Io, _setCode: (code: number) => void): CommandModule {
  return {
    command: 'vip',
    describe: 'Manage VIPs: allocate, release, reserve, get, list, from-app, stats, export, import, check',
    builder: (y) =>
      y
        .usage('$0 vip <command>\n\nManage the VIP table: the store is the embedded file of this machine by default, or --store redis://...')
        .command(allocateCommand(io))
        .command(releaseCommand(io))
        .command(reserveCommand(io))
        .command(getCommand(io))
        .command(listCommand(io))
        .command(fromAppCommand(io))
        .command(statsCommand(io))
        .command(exportCommand(io))
        .command(importCommand(io))
        .command(checkCommand(io))
        .demandCommand(1, `name a vip command: ${VIP_SUBCOMMANDS.join(', ')}`)
        .example('$0 vip allocate /mygroup/myapp --port 5555/tcp', 'allocate (idempotent) and print the name and address')
        .example('$0 vip list --json', 'every VIP, for a script')
        .example('$0 vip from-app app.json', 'allocate the VIP_* labels of a Marathon app')
        .example('HOPLITE_STORE=redis://10.0.0.5:6379 $0 vip stats', 'how full the pools of a shared Redis store are')
        .epilog('Exit codes: 0 success, 2 bad input, 1 runtime failure (store unreachable, pool exhausted). See docs/cli.md.'),
    handler: () => {
      // Not reached: demandCommand(1) refuses `hoplite vip` alone.
    },
  };
}
