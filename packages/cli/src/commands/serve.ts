/** `hoplite serve`: run the node-local resolver until SIGTERM/SIGINT, then drain and exit. */
import type { CommandModule } from 'yargs';
import { pino } from 'pino';
import type { GlobalArgs, Io } from '../main.js';
import { addConfigOptions, configFlags } from '../main.js';
import { FIELDS } from '../config/schema.js';
import { loadConfig, maskedConfig } from '../config/load.js';
import { startDaemon } from '../serve/daemon.js';
import { UsageError } from '../errors.js';

export function serveCommand(io: Io, setCode: (code: number) => void): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'serve',
    describe: 'Run the resolver (DNS on UDP and TCP, the VIP zone, master fan-out, upstream forwarding)',
    builder: (y) =>
      addConfigOptions(y, FIELDS)
        .example('$0 serve', 'embedded store, DNS on 127.0.0.1:8053, upstreams from /etc/resolv.conf')
        .example('$0 serve --listen 198.51.100.1:53 --listen 198.51.100.2:53 --store redis://10.0.0.5:6379', 'production-style: spartan addresses, shared Redis')
        .example('$0 serve --master 10.0.0.11 --master 10.0.0.12 --upstream 10.255.255.53', 'masters for mesos., one upstream')
        .example('HOPLITE_STORE=redis+sentinel://10.0.0.5:26379/mymaster $0 serve', 'Sentinel through the environment'),
    handler: async (argv) => {
      const file = argv.config ?? io.env['HOPLITE_CONFIG'];
      const { config, sources } = loadConfig({
        flags: configFlags(argv as Record<string, unknown>),
        env: io.env,
        ...(file ? { file } : {}),
      });
      const logger = pino({ level: config.log.level, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true }));
      logger.info({ config: maskedConfig(config), sources }, 'config');
      if (!io.waitForStop) throw new UsageError('serve needs a way to be stopped (run it from the hoplite binary)');
      const daemon = await startDaemon(config, { logger, env: io.env });
      const signal = await io.waitForStop();
      logger.info({ signal }, 'stopping: draining queries in flight');
      await daemon.stop();
      setCode(0);
    },
  };
}
