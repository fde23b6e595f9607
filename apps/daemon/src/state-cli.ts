/**
 * state-cli.ts - `corepool state ls|get|rm`: the shared state's names, one
 * name's contents, and deleting a Value, Queue or Dict, from a shell. It
 * sends the same state requests the SDK does (state.list, value.get, ...)
 * over the CLI's admin connection (admin.ts), with the same target flags as
 * `daemon status`. Inputs are checked before anything is sent: a bad flag is
 * E_BAD_ARGUMENT, a bad name E_BAD_NAME.
 */
import { inspect } from 'node:util';
import type { Command } from 'commander';
import {
  BadArgumentError,
  BadNameError,
  checkName,
  decodeData,
  NoSuchValueError,
  type StateListEntry,
  type StateListPage,
  type StateRequest,
} from '@corepool/protocol/internal';

import type { AdminConnection } from './admin.js';
import { describeError } from './error-text.js';

type Kind = 'value' | 'queue' | 'dict';
const KINDS: readonly Kind[] = ['value', 'queue', 'dict'];
/** Entries `ls` and `get` show at most (a page of the daemon holds at most 200). */
const MAX_SHOWN = 10_000;

interface TargetFlags {
  url?: string;
  dataDir?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

/** Adds `ls`, `get` and `rm` to the `state` command; `withTarget` adds the flags that find a daemon. */
export function registerStateCommands(state: Command, withTarget: (cmd: Command) => Command): void {
  withTarget(
    state
      .command('ls')
      .description('list the shared state: values, queues with items, dicts with keys, held locks')
      .option('--kind <kind>', 'only this kind: value, queue, dict or lock')
      .option('--limit <n>', `list at most n names (1..${MAX_SHOWN})`, '100')
      .option('--json', 'machine-readable output'),
  ).action((flags: TargetFlags & { kind?: string; limit: string }) =>
    run(flags, async () => {
      const kind = flags.kind === undefined ? undefined : kindOf(flags.kind, true);
      const limit = limitOf(flags.limit);
      const { entries, more } = await withConnection(flags, (conn) => listAll(conn, limit, kind));
      if (flags.json === true) return print({ entries, more });
      // With --kind, "no shared state" was printed beside hundreds of values when there was no queue.
      if (entries.length === 0) return console.log(kind === undefined ? '(no shared state)' : `(no ${kind} in the shared state)`);
      for (const e of entries) console.log(`${e.kind.padEnd(5)}  ${JSON.stringify(e.name)}  ${describeEntry(e)}`);
      if (more) console.log(`... more: pass --limit above ${limit}`);
    }),
  );

  withTarget(
    state
      .command('get <name>')
      .description("show a value, a dict's entries or a queue's size (every kind by that name, without --kind)")
      .option('--kind <kind>', 'value, queue or dict')
      .option('--limit <n>', `show at most n dict entries (1..${MAX_SHOWN})`, '100')
      .option('--json', 'machine-readable output'),
  ).action((name: string, flags: TargetFlags & { kind?: string; limit: string }) =>
    run(flags, async () => {
      checkedName(name);
      const kinds = flags.kind === undefined ? KINDS : [kindOf(flags.kind, false) as Kind];
      const limit = limitOf(flags.limit);
      const found = await withConnection(flags, async (conn) => {
        const out: Record<string, unknown>[] = [];
        for (const kind of kinds) {
          const got = await read(conn, kind, name, limit);
          if (got !== undefined) out.push({ kind, name, ...got });
        }
        return out;
      });
      if (found.length === 0) {
        throw new NoSuchValueError(`no ${flags.kind ?? 'value, queue or dict'} named ${JSON.stringify(name)}`);
      }
      if (flags.json === true) return print(flags.kind === undefined ? found : found[0]);
      for (const f of found) console.log(describeFound(f));
    }),
  );

  withTarget(
    state
      .command('rm <name>')
      .description(
        'delete a value, a queue (its items) or a dict (every key); subscribers are told. Without --kind, the one kind by that name',
      )
      .option('--kind <kind>', 'value, queue or dict (needed only when several kinds share the name)')
      .option('--yes', 'do not ask for confirmation (asked on a terminal only)')
      .option('--json', 'machine-readable output'),
  ).action((name: string, flags: TargetFlags & { kind?: string; yes?: boolean }) =>
    run(flags, async () => {
      checkedName(name);
      // Without --kind, the kind is the one that exists by that name (none: nothing to delete).
      // Asked before the confirmation, and deleted after it on a connection of its own, as with --kind.
      const kind =
        flags.kind === undefined ? await withConnection(flags, (conn) => onlyKind(conn, name)) : (kindOf(flags.kind, false) as Kind);
      if (kind === undefined) {
        if (flags.json === true) return print({ name, deleted: false });
        return console.log(`no value, queue or dict named ${JSON.stringify(name)}: nothing deleted`);
      }
      if (flags.yes !== true) await confirm(`delete the ${kind} ${JSON.stringify(name)}?`);
      const deleted = (await withConnection(flags, (conn) => conn.request(stateRequest({ op: `${kind}.remove`, name })))) as boolean;
      if (flags.json === true) return print({ kind, name, deleted });
      console.log(deleted ? `deleted ${kind} ${JSON.stringify(name)}` : `no ${kind} named ${JSON.stringify(name)}: nothing deleted`);
    }),
  );
}

/** Runs a command; with --json, a failure is JSON on stdout too (scripts parse it), as `daemon status` does. */
async function run(flags: TargetFlags, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (flags.json !== true) throw err;
    const e = err as Error & { code?: unknown };
    print({ error: { code: e.code === undefined ? 'E_INTERNAL' : String(e.code), message: describeError(err) } });
    process.exit(1);
  }
}

async function withConnection<T>(flags: TargetFlags, body: (conn: AdminConnection) => Promise<T>): Promise<T> {
  // Loaded here: registering these commands must not load the admin connection (ws) for every command.
  const { AdminConnection, resolveTarget } = await import('./admin.js');
  const conn = await AdminConnection.open(resolveTarget(flags));
  try {
    return await body(conn);
  } finally {
    conn.close();
  }
}

/** An admin-connection request carrying a state operation (the daemon takes it as the SDK's). */
function stateRequest(req: StateRequest): { type: 'state' } & StateRequest {
  return { type: 'state', ...req };
}

/** Pages of state.list until `limit` entries of `kind` are in, or the state ends. */
async function listAll(
  conn: AdminConnection,
  limit: number,
  kind: string | undefined,
): Promise<{ entries: StateListEntry[]; more: boolean }> {
  const entries: StateListEntry[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = (await conn.request(
      stateRequest({ op: 'state.list', name: '', limit: 200, ...(cursor === undefined ? {} : { cursor }) }),
    )) as StateListPage;
    for (const e of page.entries) {
      if (kind !== undefined && e.kind !== kind) continue;
      if (entries.length === limit) return { entries, more: true };
      entries.push(e);
    }
    cursor = page.next;
    if (cursor === undefined) return { entries, more: false };
  }
}

/**
 * The kind that exists under `name` (a value, or a queue or dict holding something), for `rm`
 * without --kind: undefined when none does, E_BAD_ARGUMENT naming them when several do.
 */
async function onlyKind(conn: AdminConnection, name: string): Promise<Kind | undefined> {
  const found: Kind[] = [];
  try {
    await conn.request(stateRequest({ op: 'value.get', name }));
    found.push('value');
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'E_NO_SUCH_VALUE') throw err;
  }
  if (((await conn.request(stateRequest({ op: 'queue.size', name }))) as number) > 0) found.push('queue');
  if (((await conn.request(stateRequest({ op: 'dict.size', name }))) as number) > 0) found.push('dict');
  if (found.length > 1) {
    throw new BadArgumentError(`${JSON.stringify(name)} names a ${found.join(' and a ')}: pass --kind to say which to delete`);
  }
  return found[0];
}

/** One kind's contents under `name`, or undefined when there is none of that kind. */
async function read(conn: AdminConnection, kind: Kind, name: string, limit: number): Promise<Record<string, unknown> | undefined> {
  switch (kind) {
    case 'value': {
      try {
        const r = (await conn.request(stateRequest({ op: 'value.get', name }))) as { version: number; value: Uint8Array };
        return { version: r.version, value: decodeData(r.value) };
      } catch (err) {
        if ((err as { code?: unknown }).code === 'E_NO_SUCH_VALUE') return undefined;
        throw err;
      }
    }
    case 'queue': {
      // A queue is only read by taking items: its size is what can be shown without changing it.
      const size = (await conn.request(stateRequest({ op: 'queue.size', name }))) as number;
      return size === 0 ? undefined : { size };
    }
    case 'dict': {
      const size = (await conn.request(stateRequest({ op: 'dict.size', name }))) as number;
      if (size === 0) return undefined;
      const entries: Record<string, unknown> = {};
      let shown: number;
      try {
        // One read for the whole dict, when it fits in a reply.
        const all = (await conn.request(stateRequest({ op: 'dict.entries', name }))) as [string, Uint8Array][];
        for (const [key, bytes] of all.slice(0, limit)) entries[key] = decodeData(bytes);
        shown = Math.min(all.length, limit);
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'E_TOO_LARGE') throw err;
        // Too large for one reply: the first `limit` keys, one read each.
        const keys = ((await conn.request(stateRequest({ op: 'dict.keys', name }))) as string[]).slice(0, limit);
        for (const key of keys) {
          const bytes = await conn.request(stateRequest({ op: 'dict.get', name, key }));
          if (bytes instanceof Uint8Array) entries[key] = decodeData(bytes);
        }
        shown = keys.length;
      }
      return { size, entries, ...(size > shown ? { more: size - shown } : {}) };
    }
  }
}

function describeEntry(e: StateListEntry): string {
  switch (e.kind) {
    case 'value':
      return `version ${e.version}  ${e.bytes} bytes  ${e.preview ?? ''}`;
    case 'queue':
      return `${e.size} items`;
    case 'dict':
      return `${e.size} keys`;
    case 'lock':
      return `held by ${e.holder}`;
  }
}

function describeFound(f: Record<string, unknown>): string {
  const head = `${String(f.kind)} ${JSON.stringify(f.name)}`;
  const show = (v: unknown): string => inspect(v, { depth: 6, colors: false, maxArrayLength: 100, breakLength: 100 });
  if (f.kind === 'value') return `${head} (version ${String(f.version)}):\n${show(f.value)}`;
  if (f.kind === 'queue') return `${head}: ${String(f.size)} items (a queue's items are read only by taking them)`;
  const more = f.more === undefined ? '' : `\n... ${String(f.more)} more keys: pass --limit`;
  return `${head} (${String(f.size)} keys):\n${show(f.entries)}${more}`;
}

/** JSON of decoded data: bigints, Maps, Sets and binary as JSON can carry them. */
function print(v: unknown): void {
  console.log(
    JSON.stringify(
      v,
      (_k, x: unknown) => {
        if (typeof x === 'bigint') return x.toString();
        if (x instanceof Map) return Object.fromEntries([...x].map(([k, y]) => [String(k), y]));
        if (x instanceof Set) return [...x];
        if (x instanceof Uint8Array) return [...x];
        return x;
      },
      2,
    ),
  );
}

function kindOf(s: string, lock: boolean): string {
  const allowed = lock ? [...KINDS, 'lock'] : KINDS;
  if (!allowed.includes(s as Kind)) throw new BadArgumentError(`--kind must be one of ${allowed.join(', ')}, got ${JSON.stringify(s)}`);
  return s;
}

function limitOf(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > MAX_SHOWN) throw new BadArgumentError(`--limit must be an integer from 1 to ${MAX_SHOWN}, got ${s}`);
  return n;
}

function checkedName(name: string): void {
  const bad = checkName(name);
  if (bad !== undefined) throw new BadNameError(bad);
}

/** Asks on the terminal; without one (a script) there is nobody to ask, and the command is taken as meant. */
async function confirm(question: string): Promise<void> {
  // Off a terminal the command is a script's, written as `state rm NAME` and meant: nobody to ask.
  if (process.stdin.isTTY !== true) return;
  // Loaded here: an ES import of a builtin builds its whole facade, on every command's start (the daemon's too).
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new BadArgumentError('not confirmed: nothing deleted');
  } finally {
    rl.close();
  }
}
