/** `hoplite vip release <name|address>`: the address goes into quarantine for the name. */
import type { CommandModule } from 'yargs';
import type { Io } from '../../main.js';
import { json } from '../../output.js';
import { addVipConfigOptions, withAllocator, type VipArgs } from '../../vip/context.js';
import { vipJson, vipTable, type VipJson } from '../../vip/format.js';
import { FRAMEWORK_OPTION, qualify } from './common.js';

interface Args extends VipArgs {
  target: string;
  framework?: string;
}

/** `release` in `--json`. */
export interface ReleaseJson {
  released: boolean;
  vip: VipJson | null;
  /** When the address may go to another name (ISO 8601); null when it is free at once or nothing was released. */
  quarantineUntil: string | null;
}

export function releaseCommand(io: Io): CommandModule {
  return {
    command: 'release <target>',
    describe: 'Release a VIP (by name or address); its address stays in quarantine for the name',
    builder: (y) =>
      addVipConfigOptions(
        y
          .positional('target', { type: 'string', describe: 'VIP name (/myapp or its DNS name) or the address it holds' })
          .option('framework', FRAMEWORK_OPTION)
          .example('$0 vip release /mygroup/myapp', 'release mygroupmyapp.marathon.l4lb.thisdcos.directory')
          .example('$0 vip release 172.16.45.20', 'release whatever VIP holds this address')
          .epilog('Releasing a name that holds no VIP changes nothing and succeeds (released: false).'),
      ),
    handler: async (raw) => {
      const argv = raw as unknown as Args;
      await withAllocator(argv, io, async ({ allocator, json: asJson }) => {
        const vip = await allocator.release(qualify(argv.target, argv.framework));
        let until: number | undefined;
        if (vip !== undefined) until = (await allocator.quarantine()).find((q) => q.ipv4 === vip.ipv4 && q.name === vip.name)?.until;
        const out: ReleaseJson = {
          released: vip !== undefined,
          vip: vip === undefined ? null : vipJson(vip),
          quarantineUntil: until === undefined ? null : new Date(until).toISOString(),
        };
        if (asJson) io.stdout.write(json(out));
        else if (vip === undefined) io.stdout.write(`no VIP ${JSON.stringify(argv.target)}: nothing released\n`);
        else io.stdout.write(vipTable([vip], { headers: ['STATUS'], cells: () => [until === undefined ? 'released, free' : `released, quarantined until ${out.quarantineUntil}`] }));
      });
    },
  };
}
