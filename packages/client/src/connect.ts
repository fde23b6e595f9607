/**
 * `connect()`: finds the daemon or daemons (argument: one URL or a list, else
 * COREPOOL_URL: one URL or a comma-separated list, else the URL the local
 * daemon recorded in <data-dir>/daemon.json, else the default port) and the
 * token (option, COREPOOL_TOKEN, else <data-dir>/token), the way the CLI
 * does, and with `spawn: true` starts a local daemon in the background if
 * none answers. With a list, the client connects to the first daemon that
 * answers and fails over along the list (connection.ts).
 */
import { spawn as spawnProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  AuthError,
  BadArgumentError,
  ConnectionError,
  type CorepoolError,
  DEFAULT_PORT,
  ErrorCode,
  MAX_NAME_LENGTH,
} from '@corepool/protocol';
import { Client } from './client.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_RECONNECT_TIMEOUT_MS,
  DEFAULT_URL,
  checkConnectOptions,
  type ConnectOptions,
} from './options.js';
import { daemonUrls, envUrls, isLocalUrl, recordedDaemon } from '@corepool/protocol/internal';

function dataDirOf(options: ConnectOptions): string {
  return resolve(options.dataDir ?? (process.env.COREPOOL_DATA_DIR || join(homedir(), '.corepool')));
}

/** The token to send, and where it came from (said when the daemon refuses it). */
function tokenOf(opts: ConnectOptions, dataDir: string): { token: string | undefined; from: string } {
  if (opts.token !== undefined) return { token: opts.token, from: 'options.token' };
  if (process.env.COREPOOL_TOKEN) return { token: process.env.COREPOOL_TOKEN, from: '$COREPOOL_TOKEN' };
  const file = join(dataDir, 'token');
  return { token: readToken(dataDir), from: `${file} (pass { token } or { dataDir }, or set COREPOOL_TOKEN, for another daemon's)` };
}

function readToken(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, 'token'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Why `url` is not the live daemon `dataDir` records (so gets none of its token), or undefined when it is. */
function notTheRecordedDaemon(dataDir: string, url: string): string | undefined {
  const rec = recordedDaemon(dataDir);
  if (rec?.live === true && rec.url === url) return undefined;
  return `the daemon recorded on ${dataDir} ${rec?.live === true ? `is now at ${rec.url}` : 'is not running'}: its token goes to no one else at ${url}`;
}

/** The URL a daemon running on this data dir recorded, if any. */
function recordedUrl(dataDir: string): string | undefined {
  return recordedDaemon(dataDir)?.url;
}

/** The name `daemon status` shows for this process: its script and pid, cut from the left to fit. */
function defaultName(): string {
  const name = `${process.argv[1] ?? 'node'}#${process.pid}`;
  return name.length <= MAX_NAME_LENGTH ? name : `…${name.slice(name.length - MAX_NAME_LENGTH + 1)}`;
}

/**
 * Connects to the corepool daemon: `connect()`, `connect(options)`, `connect(url, options?)`,
 * or `connect([url, ...], options?)` to fail over between several daemons.
 */
export async function connect(options?: ConnectOptions): Promise<Client>;
export async function connect(urls: string | readonly string[] | undefined, options?: ConnectOptions): Promise<Client>;
export async function connect(first?: string | readonly string[] | ConnectOptions, options?: ConnectOptions): Promise<Client> {
  let urlArg: unknown = first;
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (options !== undefined) throw new BadArgumentError('connect takes (url or urls, options) or (options), not two options objects');
    options = first as ConnectOptions;
    urlArg = undefined;
  }
  const opts = checkConnectOptions(options);
  const dataDir = dataDirOf(opts);
  let urls: string[];
  if (urlArg !== undefined) urls = daemonUrls(urlArg, 'url');
  else if (process.env.COREPOOL_URL) urls = envUrls(process.env.COREPOOL_URL);
  else urls = [recordedUrl(dataDir) ?? DEFAULT_URL];
  const explicit = urlArg !== undefined || Boolean(process.env.COREPOOL_URL);
  // spawn starts one daemon, on this machine, at the URL's port: a list or a remote URL cannot be served by it.
  if (opts.spawn === true && urls.length > 1) {
    throw new BadArgumentError(`spawn: true starts one local daemon: give one URL, not a list of ${urls.length} (${urls.join(', ')})`);
  }
  const target = urls[0]!;
  if (opts.spawn === true && explicit && !isLocalUrl(target)) {
    throw new BadArgumentError(
      `spawn: true starts a daemon on this machine, and ${target} is not a local address (127.0.0.1, localhost, ::1)`,
    );
  }
  const name = opts.name ?? defaultName();
  const reconnectTimeoutMs = opts.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
  const deadline = Date.now() + (opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  let spawned: Spawned | undefined;
  for (let attempt = 0; ; attempt++) {
    const { token, from } = tokenOf(opts, dataDir);
    if (token === undefined && opts.spawn !== true) {
      // Nothing says a daemon ever ran here: that, not the token, is what to fix first.
      if (!explicit && recordedUrl(dataDir) === undefined) {
        throw new ConnectionError(
          `no daemon runs on ${dataDir} (it has no token file and no daemon.json): start one with \`npx corepool daemon start --detach\`, or pass { spawn: true }`,
        );
      }
      throw new AuthError(`no token: pass { token }, set COREPOOL_TOKEN, or start the daemon so it writes ${join(dataDir, 'token')}`);
    }
    // The data dir's own token, to the data dir's own daemon: only to the one it records, and only while that runs
    // (daemon-record.ts). Sent to the default port or a dead daemon's, whatever listened there had the token.
    const guarded = !explicit && opts.token === undefined && !process.env.COREPOOL_TOKEN;
    const rec = guarded ? recordedDaemon(dataDir) : undefined;
    if (guarded && rec?.live !== true && opts.spawn !== true) {
      throw new ConnectionError(
        `no daemon runs on ${dataDir} (${rec === undefined ? 'it has no daemon.json' : `daemon.json names pid ${rec.pid}, which has exited`}): ` +
          `start one with \`npx corepool daemon start --detach\`, or pass { spawn: true }; its token (${join(dataDir, 'token')}) is sent only to the daemon recorded there`,
      );
    }
    if (guarded && rec?.live === true) urls = [rec.url];
    if (token !== undefined && (!guarded || rec?.live === true)) {
      const client = new Client(urls, token, name, reconnectTimeoutMs, undefined, {
        weight: opts.weight,
        maxWorkers: opts.maxWorkers,
        // At every reconnect too: a daemon that died may have left its port to anyone.
        ...(guarded ? { refuseToken: (url: string) => notTheRecordedDaemon(dataDir, url) } : {}),
      });
      try {
        await client.open();
        return client;
      } catch (err) {
        const e = err as CorepoolError;
        // A wrong token is the one error whose fix depends on where the token came from.
        if (e.code === ErrorCode.E_AUTH) {
          throw new AuthError(`the daemon refused the token from ${from}: ${e.message}`, { cause: err });
        }
        if (e.code !== ErrorCode.E_CONNECTION || Date.now() > deadline) throw err;
        if (opts.spawn !== true) throw err;
      }
    }
    if (spawned === undefined) spawned = spawnDaemon(dataDir, target);
    // A daemon that could not be started (no `corepool` command, a start that failed) is said at once, not after the timeout.
    if (spawned.failure !== undefined) throw new ConnectionError(spawned.failure);
    if (Date.now() > deadline) throw new ConnectionError(`no daemon answered at ${target} within the connect timeout`);
    await new Promise((r) => setTimeout(r, Math.min(500, 50 * (attempt + 1))));
  }
}

/** A `corepool daemon start --detach` this client ran; `failure` says why it did not start, once that is known. */
interface Spawned {
  failure?: string;
}

/** The most of a failed start's output kept for its error. */
const SPAWN_OUTPUT_BYTES = 4096;

/**
 * Starts `corepool daemon start --detach` for the local data dir (the SDK never loads daemon code, it runs its CLI).
 * The detaching command exits once the daemon listens, so its output is read only to tell why a start failed.
 */
function spawnDaemon(dataDir: string, url: string): Spawned {
  const port = /:(\d+)/.exec(url.replace(/^wss?:\/\//, ''))?.[1] ?? String(DEFAULT_PORT);
  const cli = findCli();
  const args = ['daemon', 'start', '--detach', '--port', port, '--data-dir', dataDir];
  const options = { detached: true, stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[] };
  const child = cli === undefined ? spawnProcess('corepool', args, options) : spawnProcess(process.execPath, [cli, ...args], options);
  const spawned: Spawned = {};
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (d: Buffer) => {
      if (output.length < SPAWN_OUTPUT_BYTES) output += d.toString('utf8');
    });
    // Its pipes must not keep the app alive (the daemon outlives it; the command itself exits).
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }
  child.on('error', (err: NodeJS.ErrnoException) => {
    spawned.failure =
      err.code === 'ENOENT'
        ? 'spawn: true found no corepool daemon to start: install it in this app (npm install @corepool/daemon) ' +
          'or on the PATH (npm install -g @corepool/daemon), or start one yourself (npx corepool daemon start --detach)'
        : `spawn: true could not run the corepool command: ${err.message}`;
  });
  child.on('exit', (code) => {
    // Another app's spawn won the race: its daemon is the one to wait for.
    if (/already runs|keep starting/.test(output)) return;
    if (code !== 0 && code !== null && spawned.failure === undefined) {
      const said = output.trim().slice(-SPAWN_OUTPUT_BYTES);
      spawned.failure = `spawn: true ran corepool daemon start, which failed (exit code ${code})${said === '' ? '' : `: ${said}`}`;
    }
  });
  child.unref();
  return spawned;
}

function findCli(): string | undefined {
  for (const base of [join(process.cwd(), 'package.json'), import.meta.url]) {
    try {
      const pkg = createRequire(base).resolve('@corepool/daemon/package.json');
      // The bundled CLI, as the package's `corepool` bin runs it.
      const cli = join(dirname(pkg), 'bundle', 'cli.js');
      if (existsSync(cli)) return cli;
    } catch {
      /* not installed there */
    }
  }
  return undefined;
}
