/** `hoplite vip check [--repair]`: verify the table's invariants; mend what is safe. */
import type { CommandModule } from 'yargs';
import type { CheckProblem } from '@hoplite/vip';
import type { Io } from '../../main.js';
import { CheckFailedError } from '../../errors.js';
import { json } from '../../output.js';
import { addVipConfigOptions, withAllocator, type VipArgs } from '../../vip/context.js';
import { problemJson, problemTable } from '../../vip/format.js';

interface Args extends VipArgs {
  repair?: boolean;
}

type ProblemJson = ReturnType<typeof problemJson>;

/** `check` in `--json`. */
export interface CheckJson {
  /** True when no problem remains. */
  ok: boolean;
  /** What the check found (before any repair). */
  problems: ProblemJson[];
  /** What --repair did, one sentence each (empty without --repair). */
  repaired: string[];
  /** What is still wrong after the repair (the same as problems without --repair). */
  remaining: ProblemJson[];
}

export function checkCommand(io: Io): CommandModule {
  return {
    command: 'check',
    describe: 'Verify the table (one address per name, one name per address, inside the pools, indexes agree)',
    builder: (y) =>
      addVipConfigOptions(
        y
          .option('repair', { type: 'boolean', describe: 'Mend what is safe (indexes, free space, quarantine, revision) and say what was done' })
          .example('$0 vip check', 'exit 0 when the table is sound, 1 with the problems listed')
          .example('$0 vip check --repair', 'mend what can be mended; exit 1 if problems remain')
          .epilog('A repair never moves or removes a VIP. Problem codes: see docs/vip.md, "Check problem codes".'),
      ),
    handler: async (raw) => {
      const argv = raw as unknown as Args;
      const out = await withAllocator(argv, io, async ({ allocator }) => {
        // Three steps, whatever the store reports in each: what is wrong, what was mended, what remains.
        const found = await allocator.check();
        let repaired: readonly string[] = [];
        let remaining: readonly CheckProblem[] = found.problems;
        if (argv.repair === true && found.problems.some((p) => p.repairable)) {
          repaired = (await allocator.check({ repair: true })).repaired;
          remaining = (await allocator.check()).problems;
        }
        const report: CheckJson = {
          ok: remaining.length === 0,
          problems: found.problems.map(problemJson),
          repaired: [...repaired],
          remaining: remaining.map(problemJson),
        };
        return report;
      });
      if (argv.json === true) io.stdout.write(json(out));
      else io.stdout.write(human(out, argv.repair === true));
      if (!out.ok) throw new CheckFailedError(out.remaining.length, advice(out, argv.repair === true));
    },
  };
}

function advice(r: CheckJson, repair: boolean): string {
  const repairable = r.remaining.filter((p) => p.repairable).length;
  if (!repair && repairable > 0) return `${repairable} can be mended: run \`hoplite vip check --repair\`${repairable < r.remaining.length ? '; the others need an operator (see the report)' : ''}`;
  if (repairable > 0) return `${repairable} could not be mended (another process may be writing): run check --repair again`;
  return 'they need an operator (see the report and docs/vip.md, "Check problem codes")';
}

function human(r: CheckJson, repair: boolean): string {
  if (r.problems.length === 0) return 'ok: no problems\n';
  let s = `found ${r.problems.length} problem(s):\n${indent(problemTable(r.problems as CheckProblem[]))}`;
  if (repair) {
    s += r.repaired.length > 0 ? `repaired:\n${r.repaired.map((x) => `  ${x}\n`).join('')}` : 'repaired: nothing\n';
    s += r.remaining.length === 0 ? 'ok: no problems remain\n' : `remaining ${r.remaining.length} problem(s):\n${indent(problemTable(r.remaining as CheckProblem[]))}`;
  }
  return s;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? l : `  ${l}`))
    .join('\n');
}
