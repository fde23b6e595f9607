/**
 * `connect()`: finds the daemon (argument, COREPOOL_URL, else the URL the
 * local daemon recorded in <data-dir>/daemon.json, else the default port) and
 * its token (option, COREPOOL_TOKEN, else <data-dir>/token), the way the CLI
 * does, and with `spawn: true` starts a local daemon in the background if
 * none answers.
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

function dataDirOf(options: ConnectOptions): string {
  return resolve(options.dataDir ?? (process.env.COREPOOL_DATA_DIR || join(homedir(), '.corepool')));
}

function readToken(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, 'token'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The URL a daemon running on this data dir recorded, if any. */
function recordedUrl(dataDir: string): string | undefined {
  try {
    const rec = JSON.parse(readFileSync(join(dataDir, 'daemon.json'), 'utf8')) as { url?: unknown };
    return typeof rec.url === 'string' && rec.url !== '' ? rec.url : undefined;
  } catch {
    return undefined;
  }
}

/** The name `daemon status` shows for this process: its script and pid, cut from the left to fit. */
function defaultName(): string {
  const name = `${process.argv[1] ?? 'node'}#${process.pid}`;
  return name.length <= MAX_NAME_LENGTH ? name : `…${name.slice(name.length - MAX_NAME_LENGTH + 1)}`;
}

/** Connects to the corepool daemon. */
export async function connect(url?: string, options?: ConnectOptions): Promise<Client> {
  if (url !== undefined && typeof url !== 'string') throw new BadArgumentError(`url must be a string such as ${DEFAULT_URL}`);
  const opts = checkConnectOptions(options);
  const dataDir = dataDirOf(opts);
  const target = url ?? (process.env.COREPOOL_URL || recordedUrl(dataDir) || DEFAULT_URL);
  if (!/^wss?:\/\//.test(target)) throw new BadArgumentError(`url must start with ws:// or wss://, got ${target}`);
  const name = opts.name ?? defaultName();
  const reconnectTimeoutMs = opts.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
  const deadline = Date.now() + (opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  let spawned = false;
  for (let attempt = 0; ; attempt++) {
    const token = opts.token ?? (process.env.COREPOOL_TOKEN || undefined) ?? readToken(dataDir);
    if (token === undefined && opts.spawn !== true) {
      throw new AuthError(`no token: pass { token }, set COREPOOL_TOKEN, or start the daemon so it writes ${join(dataDir, 'token')}`);
    }
    if (token !== undefined) {
      const client = new Client(target, token, name, reconnectTimeoutMs);
      try {
        await client.open();
        return client;
      } catch (err) {
        const e = err as CorepoolError;
        if (e.code !== ErrorCode.E_CONNECTION || Date.now() > deadline) throw err;
        if (opts.spawn !== true) throw err;
      }
    }
    if (!spawned) {
      spawnDaemon(dataDir, target);
      spawned = true;
    }
    if (Date.now() > deadline) throw new ConnectionError(`no daemon answered at ${target} within the connect timeout`);
    await new Promise((r) => setTimeout(r, Math.min(500, 50 * (attempt + 1))));
  }
}

/** Starts `corepool daemon start --detach` for the local data dir (the SDK never loads daemon code, it runs its CLI). */
function spawnDaemon(dataDir: string, url: string): void {
  const port = /:(\d+)/.exec(url.replace(/^wss?:\/\//, ''))?.[1] ?? String(DEFAULT_PORT);
  const cli = findCli();
  const args = ['daemon', 'start', '--detach', '--port', port, '--data-dir', dataDir];
  const child =
    cli === undefined
      ? spawnProcess('corepool', args, { detached: true, stdio: 'ignore' })
      : spawnProcess(process.execPath, [cli, ...args], { detached: true, stdio: 'ignore' });
  child.on('error', () => {});
  child.unref();
}

function findCli(): string | undefined {
  for (const base of [join(process.cwd(), 'package.json'), import.meta.url]) {
    try {
      const pkg = createRequire(base).resolve('@corepool/daemon/package.json');
      const cli = join(dirname(pkg), 'dist', 'cli.js');
      if (existsSync(cli)) return cli;
    } catch {
      /* not installed there */
    }
  }
  return undefined;
}
