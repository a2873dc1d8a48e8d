/**
 * `hoplite vip from-app <file|->`: allocate every `VIP*` label of a Marathon app definition.
 * Every label is checked first: one malformed label refuses the whole file (nothing allocated).
 */
import type { CommandModule } from 'yargs';
import { DEFAULT_FRAMEWORK, type Allocator } from '@hoplite/vip';
import type { Io } from '../../main.js';
import { BadAppError } from '../../errors.js';
import { json, table } from '../../output.js';
import { addVipConfigOptions, withAllocator, type VipArgs } from '../../vip/context.js';
import { portsText, statusText, vipJson, type VipJson } from '../../vip/format.js';
import { fileArg, readJson } from '../../vip/input.js';
import { appVipLabels, type AppVipLabel } from '../../vip/marathon.js';

interface Args extends VipArgs {
  file: string;
}

/** One label in `from-app --json`. */
export interface FromAppLabelJson {
  app: string;
  source: string;
  key: string;
  value: string;
  protocol: string;
  kind: 'named' | 'ip';
  /** null for an IP VIP outside the pools (nothing to reserve). */
  vip: VipJson | null;
  created: boolean;
  fromQuarantine: boolean;
}

/** `from-app` in `--json`. */
export interface FromAppJson {
  apps: number;
  labels: FromAppLabelJson[];
}

export function fromAppCommand(io: Io): CommandModule {
  return {
    command: 'from-app <file>',
    describe: 'Allocate every VIP_* label of a Marathon app definition (JSON file, or - for stdin)',
    builder: (y) =>
      addVipConfigOptions(
        y
          .positional('file', { type: 'string', describe: 'Marathon app JSON; - reads standard input' })
          .example('$0 vip from-app myapp.json', 'allocate the VIPs of portDefinitions[].labels / container.portMappings[].labels')
          .example('curl -s http://marathon.mesos:8080/v2/apps | $0 vip from-app -', 'every app Marathon runs')
          .epilog(
            'Reads portDefinitions[].labels, container.portMappings[].labels, container.docker.portMappings[].labels ' +
              '(older apps) and pods\' containers[].endpoints[].labels; the port\'s protocol (tcp, udp, udp,tcp) goes with each label. ' +
              'The VIP name is the label\'s value (VIP_0=/myapp:5555), not the app id; the framework is marathon. ' +
              'A malformed label refuses the whole file, nothing allocated (exit 2). Allocation is idempotent: run it again after a failure.',
          ),
      ),
    handler: async (raw) => {
      const argv = raw as unknown as Args;
      const { value, shown } = await readJson(fileArg(argv.file), io, 'a Marathon app definition');
      const found = appVipLabels(value);
      if (found.problems.length > 0) throw new BadAppError(shown, found.problems);
      await withAllocator(argv, io, async ({ allocator, json: asJson }) => {
        const done: FromAppLabelJson[] = [];
        const print = (): void => {
          if (asJson) io.stdout.write(json({ apps: found.apps, labels: done } satisfies FromAppJson));
          else if (found.labels.length === 0) io.stdout.write(`no VIP labels in ${shown} (${found.apps} app(s))\n`);
          else io.stdout.write(humanTable(done));
        };
        try {
          for (const l of found.labels) done.push(await allocateOne(allocator, l));
        } catch (err) {
          // What was done stays done (and a rerun is safe): say so before the error.
          if (done.length > 0) print();
          throw err;
        }
        print();
      });
    },
  };
}

async function allocateOne(allocator: Allocator, l: AppVipLabel): Promise<FromAppLabelJson> {
  const res = await allocator.allocateLabel(l.value, { key: l.key, protocol: l.protocol, framework: DEFAULT_FRAMEWORK });
  return {
    app: l.app,
    source: l.source,
    key: l.key,
    value: l.value,
    protocol: l.protocol,
    kind: l.label.kind,
    vip: res.vip === undefined ? null : vipJson(res.vip),
    created: res.created,
    fromQuarantine: res.fromQuarantine,
  };
}

function humanTable(done: readonly FromAppLabelJson[]): string {
  return table(
    ['APP', 'PORT', 'LABEL', 'NAME', 'IPV4', 'PORTS', 'STATUS'],
    done.map((d) => [
      d.app,
      d.source,
      `${d.key}=${d.value}`,
      d.vip?.name ?? '-',
      d.vip?.ipv4 ?? (d.kind === 'ip' ? d.value.slice(0, d.value.lastIndexOf(':')) : '-'),
      d.vip ? portsText(d.vip.ports) : '-',
      d.vip ? statusText(d) : 'outside the pools, nothing to reserve',
    ]),
  );
}
