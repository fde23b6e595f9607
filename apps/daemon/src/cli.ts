#!/usr/bin/env node
/**
 * The `corepool` command: `daemon start | stop | status | reload | logs` and `top`.
 * Flags are parsed by commander; their meaning and defaults live in options.ts
 * (the log flags in log-file.ts), and the help shows the defaults from there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import {
  defaultDataDir,
  CLUSTER_MAX_PAYLOAD,
  DEFAULT_CLUSTER_NAME,
  DEFAULT_OPTIONS,
  MACHINE_DEFAULTS,
  resolveOptions,
  type RawOptions,
} from './options.js';
import { FSYNC_MODES } from './state/fsync-modes.js';
import type { Daemon } from './primary/daemon.js';
import { liveDaemon } from './primary/pidfile.js';
import { secureDataDir } from './data-dir.js';
import { describeError } from './error-text.js';
import type { DaemonStatus, ReloadResult } from '@corepool/protocol';
import { LOG_LEVELS, type LogSink } from './logger.js';
import { HeldLog } from './held-log.js';
import { DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE, logPath, openLogFile, resolveLogOptions, type LogOptions } from './log-file.js';
import { follow, lastLines } from './log-tail.js';
import { registerStateCommands } from './state-cli.js';
import { detach, takeDetachedCluster, waitForExit } from './detach.js';
import { formatStatus } from './status-text.js';
import { BadArgumentError, MAX_RELOAD_GRACE_MS, RELOAD_GRACE_MS, RSS_IDLE_WATCH_MS, RSS_WATCH_MS } from '@corepool/protocol/internal';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const program = new Command('corepool')
  .description('Python-style multiprocessing for Node.js, as a shared daemon')
  .version(version)
  // Its parse errors (an unknown flag, a missing argument) are ours to print, coded like every other
  // error and as JSON under --json; every command made below inherits this.
  .exitOverride()
  .configureOutput({ outputError: () => {} });
// A token typed on any command, or a Redis password in --cluster, leaves this process's title before the command runs
// (anyone on the machine can read a command line): `top --token T` showed it for as long as top ran.
program.hook('preAction', async (_root, action) => {
  const o = action.opts<{ token?: unknown; cluster?: unknown }>();
  if (o.token !== undefined || o.cluster !== undefined) await hideSecretsFromTitle(o.cluster !== undefined);
});
const daemon = program.command('daemon').description('run and inspect the corepool daemon');
const D = DEFAULT_OPTIONS;
const M = MACHINE_DEFAULTS;

daemon
  .command('start')
  .description('start the daemon (in the foreground unless --detach)')
  .option('--port <port>', 'TCP port (0 picks a free one)', String(D.port))
  .option('--host <host>', 'address to bind; a non-loopback address requires an explicit token (--token-file, COREPOOL_TOKEN)', D.host)
  .option('--workers <n>', `worker processes (default: ${M.workers})`)
  .option('--data-dir <dir>', `state, token and pid file (default: ${M.dataDir})`)
  .option('--token-file <path>', `file holding the shared secret clients must present (yours, mode 0600; default: ${M.tokenFile})`)
  .option('--token <token>', 'the shared secret itself (visible in ps until the daemon starts: prefer --token-file or COREPOOL_TOKEN)')
  .addOption(new Option('--fsync <mode>', 'when LMDB is flushed to disk').choices(FSYNC_MODES).default(D.fsync))
  .option('--no-source', 'accept only module tasks, never function source')
  .option('--allow-source', 'accept function source on a non-loopback --host (off there by default)')
  .option('--max-clients <n>', `most connections at once (default: ${M.maxClients})`)
  .option('--max-payload <bytes>', `largest frame after authentication (default: ${D.maxPayload}; ${CLUSTER_MAX_PAYLOAD} with --cluster)`)
  .option('--heartbeat-ms <ms>', 'ping interval; a client silent for two intervals is dropped', String(D.heartbeatMs))
  .option('--auth-deadline-ms <ms>', 'time a connection has to authenticate', String(D.authDeadlineMs))
  .option(
    '--max-state-mb <mb>',
    `most memory values, queues and dicts may hold in the daemon; a write past it fails with E_LIMIT (default: ${M.maxStateMb}; 0: no bound)`,
  )
  .option('--worker-heap-mb <mb>', `V8 heap limit per worker (default: ${M.workerHeapMb})`)
  .option('--pipeline-depth <n>', 'chunks sent to a worker at once (one running, the rest prefetched)', String(D.pipelineDepth))
  .option(
    '--reserve-workers <n>',
    "worker processes beyond --workers, kept for apps stuck behind other apps' long tasks (0: none)",
    String(D.reserveWorkers),
  )
  .option(
    '--worker-rss-mb <mb>',
    `kill a worker whose resident memory passes this, off-heap memory included (checked every ${RSS_WATCH_MS} ms while it runs a chunk, every ${RSS_IDLE_WATCH_MS} ms while idle; default: ${M.workerRssMb}; 0: off)`,
  )
  .option('--max-tasks-per-worker <n>', 'replace a worker after it has run this many items (0: never)', String(D.maxTasksPerWorker))
  .option(
    '--max-client-weight <n>',
    'most weight a client may give itself (connect({ weight })); a larger ask is clamped',
    String(D.maxClientWeight),
  )
  .option('--client-weight <name=n>', 'weight of the client named name, over its own ask (repeatable)', collect)
  .option('--client-max-workers <name=n>', 'most workers the clients named name hold at once, together (repeatable)', collect)
  // Send-buffer limits per client (Redis client-output-buffer-limit). Shown: the docs name them for operators
  // (a new user found them cited and accepted, yet missing from --help).
  .option(
    '--send-high-water <bytes>',
    'bytes queued to one client above which it gets no new results or coalesced pushes, and its requests wait',
    String(D.sendHighWater),
  )
  .option('--send-hard-cap <bytes>', 'bytes queued to one client past which it is cut off (E_SLOW_CONSUMER)', String(D.sendHardCap))
  .option(
    '--send-soft-cap-ms <ms>',
    'how long a client may stay above --send-high-water, taking nothing, before it is cut off',
    String(D.sendSoftCapMs),
  )
  // How long a client instance's replies outlive its last connection (default two minutes); hidden, for tests.
  .addOption(new Option('--replay-window-ms <ms>').hideHelp())
  .option('--cluster <redis-url>', 'join a cluster of daemons that share work and state through this Redis (7.0+, noeviction)')
  .option('--cluster-name <name>', `the cluster to join on that Redis (default: ${DEFAULT_CLUSTER_NAME})`)
  .option('--init <module>', 'worker initializer: a module whose `init` (or default) export runs once in each worker before its first task')
  .option(
    '--init-timeout-ms <ms>',
    'how long a worker initializer may take; past it the worker fails its chunks (E_INIT_FAILED)',
    String(D.initTimeoutMs),
  )
  .option('--detach', 'run in the background; logs go to <data-dir>/daemon.log')
  .option('--log-level <level>', `least severe log lines written: ${LOG_LEVELS.join(', ')} (default: info)`)
  .option('--log-max-size <size>', `with --detach, rotate daemon.log past this size (bytes, or K, M, G; default: ${DEFAULT_LOG_MAX_SIZE})`)
  .option('--log-max-files <n>', `with --detach, rotated logs kept (daemon.log.1 … .n; default: ${DEFAULT_LOG_MAX_FILES})`)
  // Set by --detach on the daemon it starts: write the log to the rotated <data-dir>/daemon.log.
  .addOption(new Option('--log-to-file').hideHelp())
  .action(async (flags: Record<string, unknown>) => {
    const raw: RawOptions = {
      port: flags.port,
      host: flags.host,
      workers: flags.workers,
      dataDir: flags.dataDir,
      token: flags.token,
      tokenFile: flags.tokenFile,
      fsync: flags.fsync,
      allowSource: flags.source === false ? false : flags.allowSource === true ? true : undefined,
      maxClients: flags.maxClients,
      maxPayload: flags.maxPayload,
      heartbeatMs: flags.heartbeatMs,
      authDeadlineMs: flags.authDeadlineMs,
      workerHeapMb: flags.workerHeapMb,
      maxStateMb: flags.maxStateMb,
      pipelineDepth: flags.pipelineDepth,
      reserveWorkers: flags.reserveWorkers,
      workerRssMb: flags.workerRssMb,
      maxTasksPerWorker: flags.maxTasksPerWorker,
      maxClientWeight: flags.maxClientWeight,
      clientWeights: flags.clientWeight,
      clientMaxWorkers: flags.clientMaxWorkers,
      sendHighWater: flags.sendHighWater,
      sendHardCap: flags.sendHardCap,
      sendSoftCapMs: flags.sendSoftCapMs,
      replayWindowMs: flags.replayWindowMs,
      // The detached child gets the Redis URL by environment (detach.ts), never on its command line.
      cluster: flags.cluster ?? (flags.logToFile === true ? takeDetachedCluster() : undefined),
      clusterName: flags.clusterName,
      init: flags.init,
      initTimeoutMs: flags.initTimeoutMs,
    };
    const logOptions = resolveLogOptions(flags);
    const opts = resolveOptions(raw);
    if (flags.detach === true) {
      await detach(opts, fileURLToPath(import.meta.url));
      return;
    }
    const { log, open: openLogger, close: closeLog, onTerminal } = await openLog(opts.dataDir, logOptions, flags.logToFile === true);
    // Installed before the start: a SIGTERM that comes while the daemon starts (a script that saw
    // its 'listening' line) still stops it gracefully, once it has started.
    let d: Daemon | undefined;
    let stopAsked = false;
    const onSignal = (): void => {
      if (d === undefined) stopAsked = true;
      else void d.stop();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    try {
      // Imported here, not above: the other commands (and the parent of --detach) never load the daemon.
      // In cluster mode Redis is checked and joined before the fork (up to seconds): the log is written from the start.
      if (opts.cluster !== undefined) await openLogger();
      const { startDaemon } = await import('./primary/daemon.js');
      // pino loads once the workers are forked, while they boot: before, it cost the start its whole load.
      d = await startDaemon(opts, log, { forked: () => void openLogger() });
      await openLogger();
    } catch (err) {
      await openLogger();
      // On a terminal the error is said once, by the line on stderr below (parseAsync's catch).
      if (!onTerminal) log.error({ event: 'start-failed', message: describeError(err) }, 'the daemon did not start');
      await closeLog();
      throw err;
    }
    if (stopAsked) void d.stop();
    await d.stopped;
    await closeLog();
    process.exit(0);
  });

/** The flags that find a running daemon and its token (admin.ts resolveTarget), for stop and status. */
function withTarget(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'daemon URL (default: $COREPOOL_URL, else the one recorded in the data dir)')
    .option('--data-dir <dir>', 'data dir of the daemon')
    .option('--token-file <path>', "file holding the daemon's token")
    .option('--token <token>', "the daemon's token (default: $COREPOOL_TOKEN, else the token file in the data dir)");
}

withTarget(daemon.command('stop').description('stop gracefully: running chunks finish, the rest goes back to clients')).action(
  async (flags: { url?: string; dataDir?: string; token?: string; tokenFile?: string }) => {
    const { AdminConnection, resolveTarget } = await admin();
    const target = resolveTarget(flags);
    // The daemon that answers says its pid before it is asked to stop: a daemon that stops quickly has removed
    // its record before its answer to `stop` comes back. It is waited for only if this data dir records that
    // pid as a live daemon (a daemon on another host, or a pid since reused, is not a process to wait for).
    const conn = await AdminConnection.open(target);
    let pid: number | undefined;
    try {
      const answering = await conn.request('status', 10_000).then(
        (s) => (s as DaemonStatus).pid,
        () => undefined, // it is asked to stop all the same; only the wait is lost
      );
      if (answering !== undefined && liveDaemon(target.dataDir)?.pid === answering) pid = answering;
      await conn.request('stop', 10_000);
    } finally {
      conn.close();
    }
    if (pid !== undefined) await waitForExit(pid, 15_000);
    console.log('stopped');
  },
);

withTarget(
  daemon.command('status').description('workers, clients, queues, values and throughput').option('--json', 'machine-readable output'),
).action(async (flags: { json?: boolean; url?: string; dataDir?: string; token?: string; tokenFile?: string }) => {
  let status: DaemonStatus;
  try {
    const { adminRequest, resolveTarget } = await admin();
    status = (await adminRequest(resolveTarget(flags), 'status')) as DaemonStatus;
  } catch (err) {
    if (flags.json !== true) throw err;
    // Scripts parse stdout: the failure is JSON too.
    const e = err as Error & { code?: unknown };
    console.log(
      JSON.stringify({ error: { code: e.code === undefined ? 'E_INTERNAL' : String(e.code), message: describeError(err) } }, null, 2),
    );
    process.exit(1);
  }
  console.log(flags.json === true ? JSON.stringify(status, null, 2) : formatStatus(status));
});

withTarget(
  daemon
    .command('reload')
    .description(
      'replace the workers one at a time (new module code and --init take effect); running batches finish on the code they started on',
    )
    .option(
      '--grace-ms <ms>',
      'how long batches pinned to the old code may hold back the last old worker; past it they fail (E_CODE_REPLACED)',
      String(RELOAD_GRACE_MS),
    )
    .option('--json', 'machine-readable output (the result only)'),
).action(async (flags: { json?: boolean; graceMs: string; url?: string; dataDir?: string; token?: string; tokenFile?: string }) => {
  const graceMs = Number(flags.graceMs);
  if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > MAX_RELOAD_GRACE_MS)
    throw new BadArgumentError(`--grace-ms must be an integer between 0 and ${MAX_RELOAD_GRACE_MS}, got ${flags.graceMs}`);
  const { AdminConnection, adminRequest, resolveTarget } = await admin();
  const target = resolveTarget(flags);
  // Progress from `status` while the reload runs (its one reply comes at the end), over one connection of its own.
  let shown = '';
  const watcher = await AdminConnection.open(target).catch(() => undefined);
  const watch = setInterval(() => {
    watcher?.request('status').then(
      (s) => {
        const r = (s as DaemonStatus).reload;
        const line = r === undefined ? '' : `reloading: ${r.replaced}/${r.total} workers replaced (generation ${r.generation})`;
        if (line !== '' && line !== shown && flags.json !== true) console.log((shown = line));
      },
      () => {},
    );
  }, 500);
  try {
    const r = (await adminRequest(target, { type: 'reload', graceMs }, graceMs + 120_000)) as ReloadResult;
    if (flags.json === true) console.log(JSON.stringify(r, null, 2));
    else {
      console.log(`reloaded: ${r.replaced} workers replaced in ${(r.ms / 1000).toFixed(1)} s, generation ${r.generation}`);
      if (r.batchesFailed > 0)
        console.log(`  ${r.batchesFailed} batches pinned to the old code outlasted the grace and failed (E_CODE_REPLACED)`);
      if (r.initFailed > 0)
        console.log(
          `  warning: the initializer failed on ${r.initFailed} new workers: they fail every chunk (E_INIT_FAILED); see the daemon log`,
        );
    }
  } finally {
    clearInterval(watch);
    watcher?.close();
  }
});

daemon
  .command('logs')
  .description("the last lines of a detached daemon's log (<data-dir>/daemon.log and its rotations)")
  .option('--data-dir <dir>', 'data dir of the daemon')
  .option('-n, --lines <n>', 'how many lines', '20')
  .option('-f, --follow', 'keep printing lines as they are written (across rotations) until Ctrl-C')
  .option('--json', 'raw JSON lines (the default when stdout is not a terminal)')
  .action(async (flags: { dataDir?: string; lines: string; follow?: boolean; json?: boolean }) => {
    const n = /^\d+$/.test(flags.lines) ? Number(flags.lines) : NaN;
    if (!(n >= 0 && n <= 1_000_000)) throw new BadArgumentError(`--lines must be a whole number from 0 to 1000000 (got ${flags.lines})`);
    const dataDir = resolve(flags.dataDir ?? defaultDataDir());
    if (!existsSync(logPath(dataDir)) && !existsSync(`${logPath(dataDir)}.1`))
      throw new BadArgumentError(`no log in ${dataDir}: only a daemon started with --detach writes ${logPath(dataDir)}`);
    const pretty = flags.json !== true && process.stdout.isTTY === true;
    // pino-pretty only for a terminal.
    const prettyLine = pretty ? (await import('./log-pretty.js')).prettyLine : undefined;
    const print = (line: string): void => void process.stdout.write(prettyLine !== undefined ? prettyLine(line) : `${line}\n`);
    for (const line of lastLines(dataDir, n)) print(line);
    if (flags.follow !== true) return;
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    await follow(dataDir, print, stop.signal);
  });

withTarget(
  program
    .command('top')
    .description("a live view of the daemon's workers, clients and throughput (q or Ctrl-C quits)")
    .option('--interval-ms <ms>', 'refresh period', '1000'),
).action(async (flags: { url?: string; dataDir?: string; token?: string; tokenFile?: string; intervalMs: string }) => {
  const intervalMs = /^\d+$/.test(flags.intervalMs) ? Number(flags.intervalMs) : NaN;
  if (!(intervalMs >= 100 && intervalMs <= 60_000))
    throw new BadArgumentError(`--interval-ms must be from 100 to 60000 (got ${flags.intervalMs})`);
  const [{ runTop }, { resolveTarget }] = await Promise.all([import('./top/top.js'), admin()]);
  process.exitCode = await runTop(resolveTarget(flags), { intervalMs });
});

/**
 * Rewrites this process's title (what ps and /proc/<pid>/cmdline show) with
 * the value of --token and the password of a --cluster Redis URL masked:
 * anyone on the machine can read a command line.
 */
async function hideSecretsFromTitle(cluster: boolean): Promise<void> {
  // Only cluster mode needs the Redis client this module brings.
  const redactRedisUrl = cluster ? (await import('./cluster/redis-preflight.js')).redactRedisUrl : (url: string) => url;
  const args = process.argv.slice(1);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--token' && i + 1 < args.length) args[++i] = '***';
    else if (args[i]!.startsWith('--token=')) args[i] = '--token=***';
    else if (args[i] === '--cluster' && i + 1 < args.length) {
      i++;
      args[i] = redactRedisUrl(args[i]!);
    } else if (args[i]!.startsWith('--cluster=')) args[i] = `--cluster=${redactRedisUrl(args[i]!.slice('--cluster='.length))}`;
  }
  process.title = [process.argv0, ...args].join(' ');
}

/**
 * The daemon's logger: to stdout, or (detached) to the rotated daemon.log; `close` flushes it.
 * The file is opened here, so that a log that cannot be written stops the start before any
 * worker is forked; pino (pino-logger.ts) only once `open` is called: until then `log` holds
 * what it is given (held-log.ts). On a terminal the lines are printed as `daemon logs` prints
 * them there (`onTerminal`); a pipe or a file gets the JSON lines.
 */
async function openLog(
  dataDir: string,
  o: LogOptions,
  toFile: boolean,
): Promise<{ log: HeldLog; open(): Promise<void>; close(): Promise<void>; onTerminal: boolean }> {
  const log = new HeldLog();
  let sink: LogSink | undefined;
  let close = async (): Promise<void> => {};
  const onTerminal = !toFile && process.stdout.isTTY === true;
  if (onTerminal) {
    const { prettyLine } = await import('./log-pretty.js');
    sink = { write: (line: string) => process.stdout.write(prettyLine(line.endsWith('\n') ? line.slice(0, -1) : line)) };
  }
  if (toFile) {
    secureDataDir(dataDir);
    const file = await openLogFile(dataDir, o);
    sink = file;
    log.backlog = () => file.writableLength;
    close = () => new Promise<void>((r) => file.end(r));
  }
  let opening: Promise<void> | undefined;
  const open = (): Promise<void> =>
    (opening ??= import('./pino-logger.js').then(({ createLogger }) => log.attach(createLogger(o.level, sink))));
  return { log, open, close, onTerminal };
}

registerStateCommands(program.command('state').description('list, show and delete the shared state (values, queues, dicts)'), withTarget);

program.parseAsync().catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help, --version, or help shown for a command given without its subcommand: already printed.
    if (err.exitCode === 0 || err.code === 'commander.help' || err.code === 'commander.helpDisplayed') process.exit(err.exitCode);
    const bad = new BadArgumentError(`${err.message.replace(/^error: /, '')} (see corepool --help)`);
    if (process.argv.includes('--json')) {
      // Scripts parse stdout, as for every other failure of a command that takes --json.
      console.log(JSON.stringify({ error: { code: bad.code, message: describeError(bad) } }, null, 2));
      process.exit(1);
    }
    err = bad;
  }
  console.error(`corepool: ${describeError(err)}`);
  process.exit(1);
});

/**
 * The admin connection (ws), loaded by the commands that talk to a daemon: `daemon start`
 * must not load it before its workers are forked.
 */
function admin(): Promise<typeof import('./admin.js')> {
  return import('./admin.js');
}

/** Commander's way to take a flag more than once: each value appended. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
