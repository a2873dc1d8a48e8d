/**
 * `hoplite vip reserve <name> <address>`: pin an address to a name.
 * `hoplite vip reserve <address>`: reserve an IP VIP's address so that no named VIP gets it.
 */
import type { CommandModule } from 'yargs';
import type { Io } from '../../main.js';
import { UsageError } from '../../errors.js';
import { json } from '../../output.js';
import { addVipConfigOptions, withAllocator, type VipArgs } from '../../vip/context.js';
import { allocationJson, statusText, vipTable } from '../../vip/format.js';
import { FRAMEWORK_OPTION, looksLikeAddress, PORT_OPTION, portList } from './common.js';

interface Args extends VipArgs {
  target: string;
  address?: string;
  framework?: string;
  port?: string | string[];
}

export function reserveCommand(io: Io): CommandModule {
  return {
    command: 'reserve <target> [address]',
    describe: 'Pin an address to a name (or, with one address alone, reserve an IP VIP\'s address)',
    builder: (y) =>
      addVipConfigOptions(
        y
          .positional('target', { type: 'string', describe: 'VIP name (/myapp or its DNS name); or an address alone: an IP VIP' })
          .positional('address', { type: 'string', describe: 'The IPv4 address (or IPv6 of the IPv6 pool) to pin, inside a pool' })
          .option('framework', FRAMEWORK_OPTION)
          .option('port', PORT_OPTION)
          .example('$0 vip reserve /mygroup/myapp 172.16.0.10', 'mygroupmyapp.marathon... always gets 172.16.0.10')
          .example('$0 vip reserve 172.16.0.53 --port 53/udp', 'keep 172.16.0.53 for an IP VIP: no named VIP gets it')
          .epilog(
            'A name that had another address moves to the new one; its old address goes into quarantine. ' +
              'An address held by another VIP or in another name\'s quarantine is refused (HOPLITE_VIP_ADDRESS_TAKEN).',
          ),
      ),
    handler: async (raw) => {
      const argv = raw as unknown as Args;
      if (argv.address === undefined && !looksLikeAddress(argv.target)) {
        throw new UsageError(`reserve ${JSON.stringify(argv.target)} needs an address: hoplite vip reserve <name> <address>, or hoplite vip reserve <address> for an IP VIP`);
      }
      if (argv.address === undefined && argv.framework !== undefined) {
        throw new UsageError('--framework applies to a named VIP: hoplite vip reserve <name> <address> --framework F');
      }
      await withAllocator(argv, io, async ({ allocator, json: asJson }) => {
        const ports = portList(argv.port);
        const res =
          argv.address === undefined
            ? await allocator.reserveIp(argv.target, { ports })
            : await allocator.reserve(argv.target, argv.address, { ports, ...(argv.framework !== undefined ? { framework: argv.framework } : {}) });
        io.stdout.write(asJson ? json(allocationJson(res)) : vipTable([res.vip], { headers: ['STATUS'], cells: () => [statusText(res)] }));
      });
    },
  };
}
