/** `hoplite vip allocate <name> [--framework F] [--port 5555/tcp ...]`: idempotent. */
import type { CommandModule } from 'yargs';
import type { Io } from '../../main.js';
import { json } from '../../output.js';
import { addVipConfigOptions, withAllocator, type VipArgs } from '../../vip/context.js';
import { allocationJson, statusText, vipTable } from '../../vip/format.js';
import { portList, PORT_OPTION, FRAMEWORK_OPTION } from './common.js';

interface Args extends VipArgs {
  name: string;
  framework?: string;
  port?: string | string[];
}

export function allocateCommand(io: Io): CommandModule {
  return {
    command: 'allocate <name>',
    describe: 'Allocate the VIP of a name (idempotent): print its DNS name and address',
    builder: (y) =>
      addVipConfigOptions(
        y
          .positional('name', { type: 'string', describe: 'VIP name as in a label (/mygroup/myapp), or its full DNS name' })
          .option('framework', FRAMEWORK_OPTION)
          .option('port', PORT_OPTION)
          .example('$0 vip allocate /mygroup/myapp --port 5555/tcp', 'mygroupmyapp.marathon.l4lb.thisdcos.directory gets an address')
          .example('$0 vip allocate web --framework myframework --port 80 --port 443', 'web.myframework.l4lb.thisdcos.directory, two TCP ports')
          .example('$0 vip allocate /myapp --json | jq -r .vip.ipv4', 'just the address, for a script'),
      ),
    handler: async (raw) => {
      const argv = raw as unknown as Args;
      await withAllocator(argv, io, async ({ allocator, json: asJson }) => {
        const res = await allocator.allocate(argv.name, {
          ...(argv.framework !== undefined ? { framework: argv.framework } : {}),
          ports: portList(argv.port),
        });
        io.stdout.write(asJson ? json(allocationJson(res)) : vipTable([res.vip], { headers: ['STATUS'], cells: () => [statusText(res)] }));
      });
    },
  };
}
