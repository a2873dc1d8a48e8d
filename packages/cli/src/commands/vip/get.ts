/** `hoplite vip get <name|address>`. */
import type { CommandModule } from 'yargs';
import type { Io } from '../../main.js';
import { VipNotFoundError } from '../../errors.js';
import { json } from '../../output.js';
import { addVipConfigOptions, withAllocator, type VipArgs } from '../../vip/context.js';
import { vipDetails, vipJson } from '../../vip/format.js';
import { vipName } from '@hoplite/vip';
import { FRAMEWORK_OPTION, looksLikeAddress, qualify } from './common.js';

interface Args extends VipArgs {
  target: string;
  framework?: string;
}

export function getCommand(io: Io): CommandModule {
  return {
    command: 'get <target>',
    describe: 'Show one VIP, by name or by address',
    builder: (y) =>
      addVipConfigOptions(
        y
          .positional('target', { type: 'string', describe: 'VIP name (/myapp or its DNS name) or an address' })
          .option('framework', FRAMEWORK_OPTION)
          .example('$0 vip get /mygroup/myapp', 'the VIP of mygroupmyapp.marathon.l4lb.thisdcos.directory')
          .example('$0 vip get 172.16.45.20 --json', 'which VIP holds this address, as JSON')
          .epilog('Exit code 1 (HOPLITE_NOT_FOUND) when no VIP has this name or address.'),
      ),
    handler: async (raw) => {
      const argv = raw as unknown as Args;
      await withAllocator(argv, io, async ({ allocator, json: asJson }) => {
        const target = qualify(argv.target, argv.framework);
        const vip = await allocator.get(target);
        if (vip === undefined) {
          // Say whether the name (or address) is only in quarantine: that is what an operator looks for.
          const quarantine = await allocator.quarantine();
          let hint = '';
          if (looksLikeAddress(target)) {
            const q = quarantine.find((e) => e.ipv4 === target.trim());
            if (q) hint = `${q.ipv4} is in quarantine for ${q.name} until ${new Date(q.until).toISOString()}`;
          } else {
            const name = vipName(target).name;
            const q = quarantine.find((e) => e.name === name);
            if (q) hint = `it was released: ${q.ipv4} stays in quarantine for it until ${new Date(q.until).toISOString()} (allocate gives it back)`;
          }
          throw new VipNotFoundError(looksLikeAddress(target) ? `holds ${target}` : `named ${vipName(target).name}`, hint);
        }
        io.stdout.write(asJson ? json(vipJson(vip)) : vipDetails(vip));
      });
    },
  };
}
