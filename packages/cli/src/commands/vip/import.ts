/**
 * `hoplite vip import <file|-> [--dry-run]`: replace the whole table with an export. Everything
 * is validated first; then the table is replaced atomically, or nothing changes.
 */
import type { CommandModule } from 'yargs';
import { BadImportError, validateTable, type VipTableExport } from '@hoplite/vip';
import type { Io } from '../../main.js';
import { json } from '../../output.js';
import { addVipConfigOptions, withAllocator, type VipArgs } from '../../vip/context.js';
import { fileArg, readJson } from '../../vip/input.js';

interface Args extends VipArgs {
  file: string;
  dryRun?: boolean;
}

/** `import` in `--json`. */
export interface ImportJson {
  /** false with --dry-run (validated only). */
  imported: boolean;
  vips: number;
  quarantine: number;
  /** The store's revision after the import (before it, with --dry-run). */
  revision: number;
}

export function importCommand(io: Io): CommandModule {
  return {
    command: 'import <file>',
    describe: 'Replace the whole table with an export (validated first; atomic: all or nothing)',
    builder: (y) =>
      addVipConfigOptions(
        y
          .positional('file', { type: 'string', describe: 'A file written by `hoplite vip export`; - reads standard input' })
          .option('dry-run', { type: 'boolean', describe: 'Only validate the file against the pools; change nothing' })
          .example('$0 vip import vips.json', 'restore a backup (every VIP not in the file is gone afterwards)')
          .example('$0 vip import --dry-run vips.json', 'would it import? lists every problem')
          .epilog(
            'The file must be the format export writes ({"format": "hoplite-vip-table", "version": 1, ...}); every VIP must be inside the ' +
              'configured pools, one address per name, one name per address. Any problem: exit 2 (HOPLITE_VIP_BAD_IMPORT or ' +
              'HOPLITE_INPUT_FILE) listing all of them, and the table is unchanged. Watchers (hoplite serve) resync.',
          ),
      ),
    handler: async (raw) => {
      const argv = raw as unknown as Args;
      const { value } = await readJson(fileArg(argv.file), io, 'a VIP table (the output of hoplite vip export)');
      await withAllocator(argv, io, async ({ allocator, json: asJson }) => {
        const problems = validateTable(value, allocator.plan.layout);
        if (problems.length > 0) throw new BadImportError(problems);
        const table = value as VipTableExport;
        if (argv.dryRun !== true) await allocator.importTable(table);
        const out: ImportJson = { imported: argv.dryRun !== true, vips: table.vips.length, quarantine: table.quarantine.length, revision: await allocator.revision() };
        if (asJson) io.stdout.write(json(out));
        else {
          const what = `${out.vips} VIP(s) and ${out.quarantine} quarantine entr${out.quarantine === 1 ? 'y' : 'ies'}`;
          io.stdout.write(out.imported ? `imported ${what}; revision now ${out.revision}\n` : `valid: ${what}; nothing changed (--dry-run)\n`);
        }
      });
    },
  };
}
