/** `hoplite vip export [--output file]`: the whole table as JSON (the format `import` reads). */
import { rename, writeFile, rm } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import type { Io } from '../../main.js';
import { OutputFileError } from '../../errors.js';
import { json } from '../../output.js';
import { addVipConfigOptions, withAllocator, type VipArgs } from '../../vip/context.js';

interface Args extends VipArgs {
  output?: string;
}

/** `export --output FILE --json` prints this (without --output the table itself goes to stdout). */
export interface ExportJson {
  file: string;
  revision: number;
  vips: number;
  quarantine: number;
}

export function exportCommand(io: Io): CommandModule {
  return {
    command: 'export',
    describe: 'Write the whole table (VIPs and quarantine) as JSON, to stdout or a file',
    builder: (y) =>
      addVipConfigOptions(
        y
          .option('output', { alias: 'o', type: 'string', requiresArg: true, describe: 'Write to this file (atomically) instead of stdout' })
          .example('$0 vip export > vips.json', 'back up the table')
          .example('$0 vip export --output /var/backups/hoplite-vips.json', 'the same, written atomically')
          .example('$0 vip export --store embedded | $0 vip import --store redis://10.0.0.5:6379 -', 'move the table to Redis'),
      ),
    handler: async (raw) => {
      const argv = raw as unknown as Args;
      await withAllocator(argv, io, async ({ allocator, json: asJson }) => {
        const table = await allocator.exportTable();
        const text = json(table);
        if (argv.output === undefined) {
          io.stdout.write(text);
          return;
        }
        const tmp = `${argv.output}.tmp-${process.pid}`;
        try {
          await writeFile(tmp, text, { mode: 0o600 });
          await rename(tmp, argv.output);
        } catch (err) {
          await rm(tmp, { force: true }).catch(() => undefined);
          throw new OutputFileError(argv.output, (err as Error).message, { cause: err });
        }
        const out: ExportJson = { file: argv.output, revision: table.revision, vips: table.vips.length, quarantine: table.quarantine.length };
        io.stdout.write(asJson ? json(out) : `exported ${out.vips} VIP(s) and ${out.quarantine} quarantine entr${out.quarantine === 1 ? 'y' : 'ies'} (revision ${out.revision}) to ${out.file}\n`);
      });
    },
  };
}
