/** `hoplite vip stats`: per pool, its size, used, quarantined and free counts. */
import type { CommandModule } from 'yargs';
import type { Io } from '../../main.js';
import { json } from '../../output.js';
import { addVipConfigOptions, withAllocator, type VipArgs } from '../../vip/context.js';
import { statsJson, statsTable } from '../../vip/format.js';

export function statsCommand(io: Io): CommandModule {
  return {
    command: 'stats',
    describe: 'Per pool: size, used, quarantined and free addresses',
    builder: (y) =>
      addVipConfigOptions(y)
        .example('$0 vip stats', 'how full each pool is')
        .example('$0 vip stats --json | jq .total.free', 'free addresses left in all pools'),
    handler: async (raw) => {
      const argv = raw as unknown as VipArgs;
      await withAllocator(argv, io, async ({ allocator, json: asJson }) => {
        const s = statsJson(await allocator.stats());
        io.stdout.write(asJson ? json(s) : statsTable(s));
      });
    },
  };
}
