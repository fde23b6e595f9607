/**
 * state-redis.ts - the Redis side every part of RedisState shares: the
 * node's command connection, the keys, and how a request reaches Redis. A
 * request's script or read is refused at once with E_UNAVAILABLE unless this
 * daemon holds its lease (`run`, `call`); what only gives something up
 * (releases, put-backs, dropped replies) and the feed's own reads go without
 * that check (`script`, `read`), and are fenced in Lua where it matters.
 * Work started in the background (releases, put-backs) is tracked, so close
 * can wait for it.
 */
import { UnavailableError } from '@corepool/protocol';

import type { ReplayKey } from '../../state/state-store.js';
import type { ClusterNode } from '../cluster-node.js';
import { redisCall } from './redis-call.js';
import { answer, scriptError, type ScriptAnswer } from './replies.js';
import type { Script, ScriptArg } from './scripts.js';
import type { StateKeys } from './state-keys.js';
import { StateRoom } from './state-room.js';

/** What every state script gets besides its own keys and arguments (lua-prelude.ts). */
export interface ScriptSettings {
  streamLength: number;
  inlineBytes: number;
  replyTtlMs: number;
}

export class StateRedis {
  readonly node: ClusterNode;
  readonly keys: StateKeys;
  /** Whether Redis has room for the state to grow (its flag goes to every script). */
  readonly room: StateRoom;
  /** Set once the store closes: retries stop. */
  closed = false;
  readonly #settings: ScriptSettings;
  readonly #background = new Set<Promise<unknown>>();

  constructor(node: ClusterNode, keys: StateKeys, settings: ScriptSettings) {
    this.node = node;
    this.keys = keys;
    this.#settings = settings;
    this.room = new StateRoom(node);
  }

  /** `<daemon id>/<owner>`: an owner as Redis knows it, unique in the cluster. */
  holder(owner: string): string {
    return `${this.node.id}/${owner}`;
  }

  /** Throws E_UNAVAILABLE unless this daemon holds its lease (and so reaches Redis). */
  ready(): void {
    if (!this.node.held()) {
      throw new UnavailableError("this daemon cannot reach the cluster's Redis or lost its lease: shared state is unavailable");
    }
  }

  /** Runs a state script for a request (lease checked first); an error answer rejects. */
  async run(script: Script, key: ReplayKey | undefined, keys: string[], args: ScriptArg[]): Promise<ScriptAnswer> {
    this.ready();
    return this.script(script, key, keys, args);
  }

  /** Runs a state script whatever the lease. */
  async script(script: Script, key: ReplayKey | undefined, keys: string[], args: ScriptArg[]): Promise<ScriptAnswer> {
    const k = this.keys;
    const s = this.#settings;
    const raw = await script.run(
      this.node.redis,
      [this.node.leaseKey(this.node.id), k.chg, k.replies(key?.[0]), k.stat, ...keys],
      [key === undefined ? '' : String(key[1]), s.streamLength, s.replyTtlMs, s.inlineBytes, this.room.flag(argBytes(args)), ...args],
    );
    const a = answer(raw);
    if (a.word === 'err') throw scriptError(a);
    return a;
  }

  /** A plain read for a request (lease checked first). */
  call(command: string, ...args: (string | number)[]): Promise<unknown> {
    this.ready();
    return this.read(command, ...args);
  }

  /** A plain read whatever the lease. */
  read(command: string, ...args: (string | number)[]): Promise<unknown> {
    return redisCall(this.node.redis, command, ...args);
  }

  /** Keeps `p` until it settles, for `settled`. */
  track(p: Promise<unknown>): void {
    const t = p.catch(() => {}).finally(() => this.#background.delete(t));
    this.#background.add(t);
  }

  /** Resolves once the background work in flight now settled. */
  settled(): Promise<unknown> {
    return Promise.allSettled([...this.#background]);
  }
}

/** What a script's arguments carry, in bytes. */
function argBytes(args: ScriptArg[]): number {
  let n = 0;
  for (const a of args) n += typeof a === 'number' ? 8 : typeof a === 'string' ? Buffer.byteLength(a) : a.length;
  return n;
}
