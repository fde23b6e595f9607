/**
 * The CLI's own tiny client for `status` and `stop` (the daemon never loads
 * the SDK): finds the daemon and its token the way the SDK does, sends one
 * request and returns the reply.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import WebSocket from 'ws';
import {
  AuthError,
  BadArgumentError,
  checkDaemonUrl,
  ConnectionError,
  DEFAULT_HOST,
  DEFAULT_PORT,
  PROTOCOL_VERSION,
  decodeMessage,
  encodeMessage,
  fromWire,
  isErrorCode,
  parseServerMessage,
  type StateRequest,
  type WireError,
} from '@corepool/protocol/internal';
import { defaultDataDir } from './options.js';
import { liveDaemon, readRecord } from './primary/pidfile.js';
import { readTokenFile, tokenPath } from './primary/token.js';

/** How long a close waits for the daemon's answer before the socket is dropped. */
const CLOSE_WAIT_MS = 500;

/** Where the CLI talks to. */
export interface AdminTarget {
  url: string;
  token: string;
  dataDir: string;
  /** Set when the URL is only the default: no daemon recorded itself in the data dir. */
  notRecorded?: string;
}

/**
 * --url, else COREPOOL_URL, else the data dir's daemon.json, else the default
 * port; --token or --token-file, else COREPOOL_TOKEN, else the data dir's token file.
 */
export function resolveTarget(flags: { url?: string; dataDir?: string; token?: string; tokenFile?: string }): AdminTarget {
  const dataDir = resolve(flags.dataDir ?? defaultDataDir());
  const recorded = readRecord(dataDir)?.url;
  // Checked as the SDK checks a URL: an http:// one (which ws would take) or a typo is refused here, not half-used.
  const given = flags.url !== undefined && flags.url !== '' ? checkDaemonUrl(flags.url.trim(), '--url') : envUrl();
  const url = given || recorded || `ws://${DEFAULT_HOST}:${DEFAULT_PORT}`;
  // As at start: an empty --token (an unset shell variable) or both flags at once is a mistake, not a fallback.
  if (flags.token === '') throw new BadArgumentError('--token is empty: pass the token itself, or use --token-file or COREPOOL_TOKEN');
  if (flags.token !== undefined && flags.tokenFile !== undefined) throw new BadArgumentError('pass --token or --token-file, not both');
  let token = flags.token || (flags.tokenFile ? readTokenFile(resolve(flags.tokenFile)) : '') || process.env.COREPOOL_TOKEN || '';
  const fromDataDir = token === '';
  if (token === '') {
    try {
      token = readFileSync(tokenPath(dataDir), 'utf8').trim();
    } catch {
      // Nothing says a daemon ever ran here (as the SDK's connect() says): that, not the token, is what to fix first.
      if (!given && recorded === undefined) {
        throw new ConnectionError(
          `no daemon runs on ${dataDir} (it has no token file and no daemon.json): pass the --data-dir the daemon was started with, ` +
            'or start one with `corepool daemon start --detach`',
        );
      }
      throw new AuthError(
        `no token: pass --token-file or --token, set COREPOOL_TOKEN, or pass the daemon's --data-dir (looked in ${tokenPath(dataDir)})`,
      );
    }
  }
  // The data dir's own token, to the data dir's own daemon: only to the one it records, and only while that runs.
  // Sent to the default port or to a dead daemon's, it went to whatever listened there.
  if (fromDataDir && !given) {
    const live = liveDaemon(dataDir);
    if (live === undefined) {
      throw new ConnectionError(
        `no daemon runs on ${dataDir} (${recorded === undefined ? 'it has no daemon.json' : 'the daemon its daemon.json names has exited'}); ` +
          `its token is sent only to the daemon recorded there: start one with \`corepool daemon start --data-dir ${dataDir}\`, or pass --url`,
      );
    }
    return { url: live.url, token, dataDir };
  }
  // Said when nothing answers: the user learns there was no daemon to find, not just a refused port.
  const notRecorded =
    !flags.url && !process.env.COREPOOL_URL && recorded === undefined
      ? `no daemon is running on ${dataDir} (it has no daemon.json)`
      : undefined;
  return notRecorded === undefined ? { url, token, dataDir } : { url, token, dataDir, notRecorded };
}

/**
 * COREPOOL_URL, which clients may give a comma-separated list of daemons to fail over along.
 * The CLI asks one daemon: a list without --url is refused rather than guessed from (the first
 * entry may be another host's daemon, which `stop` would stop).
 */
function envUrl(): string | undefined {
  const urls = (process.env.COREPOOL_URL ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  if (urls.length > 1) {
    throw new BadArgumentError(
      `COREPOOL_URL lists ${urls.length} daemons (${urls.join(', ')}) and the CLI talks to one: pass --url, or unset COREPOOL_URL to use the data dir's daemon`,
    );
  }
  return urls[0] === undefined ? undefined : checkDaemonUrl(urls[0], 'COREPOOL_URL');
}

/** An admin request: its type, and for `reload` its grace; or a state operation (`corepool state`, state-cli.ts). */
export type AdminRequest =
  { type: 'status' } | { type: 'stop' } | { type: 'reload'; graceMs?: number } | ({ type: 'state' } & StateRequest);

/** Sends one admin request and resolves to its reply value; `timeoutMs` bounds the wait for it (a reload takes long). */
export async function adminRequest(
  target: AdminTarget,
  request: AdminRequest['type'] | AdminRequest,
  timeoutMs = 10_000,
): Promise<unknown> {
  const conn = await AdminConnection.open(target);
  try {
    return await conn.request(request, timeoutMs);
  } finally {
    conn.close();
  }
}

/**
 * One authenticated connection to a daemon that many requests go through
 * (`top` asks for `status` every second on it). `closed` resolves when the
 * daemon goes away; requests pending then reject with E_CONNECTION.
 */
export class AdminConnection {
  readonly #ws: WebSocket;
  readonly #target: AdminTarget;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  #nextRid = 1;
  #gone: Error | undefined;
  readonly closed: Promise<Error>;

  private constructor(ws: WebSocket, target: AdminTarget, closed: Promise<Error>) {
    this.#ws = ws;
    this.#target = target;
    this.closed = closed;
  }

  /** Connects and authenticates; rejects with a clear, coded error when no daemon answers or the token is refused. */
  static open(target: AdminTarget, name = 'corepool-cli'): Promise<AdminConnection> {
    return new Promise((resolveOpen, rejectOpen) => {
      const ws = new WebSocket(target.url, { perMessageDeflate: false });
      let conn: AdminConnection | undefined;
      let onClosed!: (e: Error) => void;
      const closed = new Promise<Error>((r) => (onClosed = r));
      const timer = setTimeout(() => fail(new ConnectionError(`no answer from ${target.url} within 10 s`)), 10_000);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        ws.terminate();
        if (conn === undefined) rejectOpen(err);
        else conn.#end(err);
        onClosed(err);
      };
      ws.on('error', (err) =>
        fail(
          new ConnectionError(
            target.notRecorded !== undefined
              ? `${target.notRecorded}, and nothing answers at ${target.url}: ${err.message}`
              : `cannot reach a daemon at ${target.url}: ${err.message}`,
          ),
        ),
      );
      // A daemon that stops while a request waits (a reload) closes with its reason: a coded error, not a hang.
      ws.on('close', (code, reason) => {
        const why = reason.toString();
        fail(
          isErrorCode(why)
            ? fromWire({ code: why, message: `the daemon at ${target.url} closed the connection (${code} ${why})` })
            : new ConnectionError(`the daemon at ${target.url} closed the connection`),
        );
      });
      ws.on('open', () => ws.send(encodeMessage({ type: 'hello', v: PROTOCOL_VERSION, token: target.token, name })));
      ws.on('message', (data) => {
        let messages: ReturnType<typeof parseServerMessage>[];
        try {
          const decoded = decodeMessage(data as Buffer);
          // The daemon may coalesce several messages into one frame.
          messages = (Array.isArray(decoded) ? decoded : [decoded]).map((one) => parseServerMessage(one));
        } catch (err) {
          // Something else listens there (another program, another protocol): a coded error, not a stack.
          fail(new ConnectionError(`${target.url} did not answer as a corepool daemon does: ${(err as Error).message}`));
          return;
        }
        for (const m of messages) {
          if (m.type === 'welcome') {
            clearTimeout(timer);
            conn = new AdminConnection(ws, target, closed);
            resolveOpen(conn);
          } else if (m.type === 'error') fail(fromWire(m.error));
          else if (m.type === 'reply' && conn !== undefined) conn.#reply(m.rid, m.ok ? { value: m.value } : { error: m.error });
        }
      });
    });
  }

  /** Sends an admin request; its reply value, or its error (`timeoutMs` at most). */
  request(request: AdminRequest['type'] | AdminRequest, timeoutMs = 10_000): Promise<unknown> {
    if (this.#gone !== undefined) return Promise.reject(this.#gone);
    const req: AdminRequest = typeof request === 'string' ? ({ type: request } as AdminRequest) : request;
    const rid = this.#nextRid++;
    return new Promise((resolveRequest, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid);
        reject(new ConnectionError(`no answer from ${this.#target.url} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.#pending.set(rid, { resolve: resolveRequest, reject, timer });
      this.#ws.send(encodeMessage({ ...req, rid }));
    });
  }

  close(): void {
    this.#end(new ConnectionError('closed'));
    this.#ws.close();
    // A stalled daemon (stopped, its host hung) never answers the close: ws would wait 30 s for it, and `top`'s
    // q with it. Half a second, then the socket is dropped.
    const drop = setTimeout(() => this.#ws.terminate(), CLOSE_WAIT_MS);
    this.#ws.once('close', () => clearTimeout(drop));
  }

  #reply(rid: number, r: { value: unknown } | { error: WireError | undefined }): void {
    const p = this.#pending.get(rid);
    if (p === undefined) return;
    this.#pending.delete(rid);
    clearTimeout(p.timer);
    if ('value' in r) p.resolve(r.value);
    else p.reject(fromWire(r.error ?? ({ code: 'E_INTERNAL', message: 'failed' } as WireError)));
  }

  #end(err: Error): void {
    this.#gone ??= err;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }
}
