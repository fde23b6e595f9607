/**
 * Redis preflight for cluster mode: before a daemon joins a cluster it checks
 * the Redis it was given, once, and refuses a Redis that cannot hold a cluster
 * correctly (unreachable, too old, may evict keys) with a coded error whose
 * message says what to fix; a Redis that keeps nothing on disk is allowed,
 * with a warning. Internal: `daemon start --cluster` will call it first.
 */
import { Redis } from 'ioredis';
import { BadArgumentError, ClusterRefusedError, ClusterUnreachableError } from '@corepool/protocol';

/** What the preflight learnt about a Redis that may hold a cluster. */
export interface RedisReport {
  /** `redis_version` from INFO server, e.g. "7.0.15". */
  version: string;
  maxmemoryPolicy: string;
  persistence: {
    /** The append-only file is on. */
    aof: boolean;
    /** RDB save points are set (false also when CONFIG is disabled and they cannot be read). */
    rdb: boolean;
  };
  /** Things that do not stop a cluster but that its operator should hear about. */
  warnings: string[];
}

/** The facts the verdict is drawn from, as read from Redis. */
export interface RedisFacts {
  version: string;
  maxmemoryPolicy: string;
  aof: boolean;
  /** undefined when the save points could not be read (CONFIG disabled or renamed). */
  rdb: boolean | undefined;
}

/**
 * Oldest Redis the cluster design (docs/cluster.md) runs on: 7.0 brings
 * `XINFO STREAM`'s `entries-added`, by which a subscriber back from a
 * disconnect tells a gap in a change stream from no change at all (resync,
 * never a silent gap); 6.2 before it brought XAUTOCLAIM, GETDEL and the
 * `LIMIT`/`MINID` options of XADD/XTRIM that bound the change streams.
 */
export const MIN_REDIS_VERSION: readonly [number, number] = [7, 0];

/** A bounded wait by default: a start that hangs on a dead Redis is worse than a clear error. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** The URL as it may be shown: any password replaced by `***`; a URL that does not parse is not echoed. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(a URL that does not parse)';
  }
}

/** The `key:value` lines of an INFO reply. */
function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) fields.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return fields;
}

function versionAtLeast(version: string, [major, minor]: readonly [number, number]): boolean {
  const [a = NaN, b = NaN] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

/** The verdict on what was read: throws E_CLUSTER_REFUSED, or returns the report with its warnings. */
export function assessRedis(url: string, facts: RedisFacts): RedisReport {
  const shown = redactRedisUrl(url);
  if (!versionAtLeast(facts.version, MIN_REDIS_VERSION)) {
    throw new ClusterRefusedError(
      `Redis at ${shown} is version ${facts.version}; a corepool cluster needs Redis ${MIN_REDIS_VERSION.join('.')} or newer (XINFO STREAM entries-added, XAUTOCLAIM, GETDEL). Upgrade it, or give --cluster another Redis.`,
    );
  }
  // Leases, locks and idempotency records carry TTLs or must never vanish: any
  // evicting policy (volatile-* included) can drop them and break exactly-once.
  if (facts.maxmemoryPolicy !== 'noeviction') {
    throw new ClusterRefusedError(
      `Redis at ${shown} has maxmemory-policy ${facts.maxmemoryPolicy}: it may evict the cluster's leases, locks and state, so corepool refuses it. ` +
        "Fix: run `redis-cli CONFIG SET maxmemory-policy noeviction` and put the line `maxmemory-policy noeviction` in redis.conf so it survives a restart (on a managed Redis, set it in the provider's parameter group).",
    );
  }
  const warnings: string[] = [];
  if (!facts.aof && facts.rdb !== true) {
    const why =
      facts.rdb === undefined ? 'AOF is off and the RDB save points cannot be read (CONFIG is disabled)' : 'no AOF, no RDB save points';
    warnings.push(
      `Redis at ${shown} may keep nothing on disk (${why}): if it restarts, the cluster's state, queues and batches in flight are lost. ` +
        'To keep them: `redis-cli CONFIG SET appendonly yes` and `appendonly yes` in redis.conf.',
    );
  }
  return {
    version: facts.version,
    maxmemoryPolicy: facts.maxmemoryPolicy,
    persistence: { aof: facts.aof, rdb: facts.rdb === true },
    warnings,
  };
}

/** A CONFIG GET value, or undefined where CONFIG is disabled, renamed or denied (managed Redis). */
async function configGet(redis: Redis, name: string): Promise<string | undefined> {
  try {
    const reply = (await redis.call('CONFIG', 'GET', name)) as string[];
    return reply.length >= 2 ? String(reply[1]) : undefined;
  } catch (err) {
    if (err instanceof Error && err.name === 'ReplyError') return undefined;
    throw err;
  }
}

/** Reads what the verdict needs, over a connected client. */
async function readFacts(redis: Redis): Promise<RedisFacts> {
  const server = parseInfo(await redis.info('server'));
  const persistence = parseInfo(await redis.info('persistence'));
  const policy = (await configGet(redis, 'maxmemory-policy')) ?? parseInfo(await redis.info('memory')).get('maxmemory_policy') ?? 'unknown';
  const save = await configGet(redis, 'save');
  return {
    version: server.get('redis_version') ?? 'unknown',
    maxmemoryPolicy: policy,
    aof: persistence.get('aof_enabled') === '1',
    rdb: save === undefined ? undefined : save.trim() !== '',
  };
}

/** Rejects after `ms`: connect's own timeout covers the TCP stage, not the handshake after it. */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * Connects once (no retry loop), reads what a cluster depends on and judges it.
 * Rejects with E_CLUSTER_UNREACHABLE (no answer, timeout, wrong password) or
 * E_CLUSTER_REFUSED (too old, evicting policy); always disconnects.
 */
export async function checkRedis(url: string, opts: { connectTimeoutMs?: number } = {}): Promise<RedisReport> {
  const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const shown = redactRedisUrl(url);
  if (!/^rediss?:\/\//.test(url) || shown.startsWith('(')) {
    throw new BadArgumentError(
      `The cluster's Redis must be a redis:// or rediss:// URL, got ${shown.startsWith('(') ? shown : JSON.stringify(shown)}`,
    );
  }
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  // The failure is reported through connect()'s rejection; an 'error' event without a listener would crash the process.
  // Its error is kept: connect() only says "Connection is closed." when Redis refused the password (NOAUTH, WRONGPASS).
  let refused: string | undefined;
  redis.on('error', (err: Error) => {
    if (/^(NOAUTH|WRONGPASS)\b/.test(err.message)) refused = err.message.startsWith('NOAUTH') ? 'needs a password' : 'refused the password';
  });
  try {
    let facts: RedisFacts;
    try {
      await within(redis.connect(), timeoutMs);
      facts = await readFacts(redis);
    } catch (err) {
      const password = new URL(url).password;
      let why = (err instanceof Error ? err.message : String(err)).split(url).join(shown);
      if (password !== '') why = why.split(password).join('***');
      if (refused !== undefined) {
        throw new ClusterUnreachableError(
          `Redis at ${shown} ${refused}: give it in the URL (redis://:PASSWORD@host:port, or redis://USER:PASSWORD@host:port for an ACL user).`,
          { cause: err },
        );
      }
      throw new ClusterUnreachableError(
        `Redis at ${shown} does not answer (${why}): check that redis-server runs there, ` +
          'that the host and port are right and reachable from this host (firewall, bind address), and the password and TLS (rediss://) if it needs them.',
        { cause: err },
      );
    }
    return assessRedis(url, facts);
  } finally {
    redis.disconnect();
  }
}
