/** `hoplite vip ...`: the allocator's admin commands (being written). */
import type { CommandModule } from 'yargs';
import type { Io } from '../main.js';
import { UsageError } from '../errors.js';

export function vipCommand(_io: Io, _setCode: (code: number) => void): CommandModule {
  return {
    command: 'vip',
    describe: 'Manage VIPs: allocate, release, reserve, get, list, from-app, stats, export, import, check',
    builder: (y) => y,
    handler: () => {
      throw new UsageError('hoplite vip: no subcommand yet');
    },
  };
}
