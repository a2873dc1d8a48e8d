/** `hoplite vip list [--pool CIDR] [--framework F] [--kind named|ip]`. */
import type { CommandModule } from 'yargs';
import type { Io } from '../../main.js';
import { json } from '../../output.js';
import { addVipConfigOptions, withAllocator, type VipArgs } from '../../vip/context.js';
import { vipJson, vipTable, type VipJson } from '../../vip/format.js';

interface Args extends VipArgs {
  pool?: string | string[];
  framework?: string;
  kind?: 'named' | 'ip';
}

/** `list` in `--json`. */
export interface ListJson {
  vips: VipJson[];
}

export function listCommand(io: Io): CommandModule {
  return {
    command: 'list',
    describe: 'List VIPs (sorted by name), optionally of one pool, framework or kind',
    builder: (y) =>
      // Here --pool filters; the pools themselves come from the config file or HOPLITE_VIP_POOLS.
      addVipConfigOptions(y, ['vip.pools'])
        .option('pool', { type: 'string', requiresArg: true, describe: 'Only VIPs inside this IPv4 CIDR (e.g. 172.16.0.0/24)' })
        .option('framework', { type: 'string', requiresArg: true, describe: 'Only named VIPs of this framework' })
        .option('kind', { choices: ['named', 'ip'] as const, describe: 'Only named VIPs, or only IP VIPs' })
        .example('$0 vip list', 'every VIP')
        .example('$0 vip list --pool 172.16.3.0/24 --framework marathon', 'marathon VIPs with an address in 172.16.3.0/24')
        .example('$0 vip list --json | jq -r \'.vips[] | "\\(.name) \\(.ipv4)"\'', 'name and address per line')
        .epilog('In list, --pool filters; the configured pools come from the config file or HOPLITE_VIP_POOLS.'),
    handler: async (raw) => {
      const argv = raw as unknown as Args;
      const pool = Array.isArray(argv.pool) ? argv.pool[argv.pool.length - 1] : argv.pool;
      await withAllocator(
        argv,
        io,
        async ({ allocator, json: asJson }) => {
          const vips = await allocator.list({
            ...(pool !== undefined ? { pool } : {}),
            ...(argv.framework !== undefined ? { framework: argv.framework } : {}),
            ...(argv.kind !== undefined ? { kind: argv.kind } : {}),
          });
          if (asJson) io.stdout.write(json({ vips: vips.map(vipJson) } satisfies ListJson));
          else io.stdout.write(vips.length === 0 ? 'no VIPs\n' : vipTable(vips));
        },
        ['vip.pools'],
      );
    },
  };
}
