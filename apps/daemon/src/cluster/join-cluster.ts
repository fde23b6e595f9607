/**
 * join-cluster.ts - how `daemon start --cluster` enters its cluster: check the
 * Redis once (preflight: refuse what cannot hold a cluster, warn about what
 * loses it on a restart), then join with a lease; and how this daemon's
 * heartbeat figures become `status.cluster` on any daemon.
 */
import { hostname } from 'node:os';
import type { ClusterDaemonStatus, ClusterStatus } from '@corepool/protocol';

import type { ClusterOptions } from '../options.js';
import type { Logger } from '../logger.js';
import { Membership, type MemberRecord } from './membership.js';
import { checkRedis, redactRedisUrl } from './redis-preflight.js';

/** What this daemon publishes with each heartbeat. */
export interface OwnFigures {
  url: string;
  workers: number;
  busy: number;
  clients: { name: string; queuedChunks: number; runningChunks: number }[];
}

/** Checks the Redis, then joins; throws a coded error (E_CLUSTER_UNREACHABLE, E_CLUSTER_REFUSED) when it cannot. */
export async function joinCluster(cluster: ClusterOptions, figures: () => OwnFigures, log: Logger): Promise<Membership> {
  const report = await checkRedis(cluster.redisUrl);
  for (const message of report.warnings) log.warn({ event: 'warning', message }, message);
  const membership = await Membership.join({
    redisUrl: cluster.redisUrl,
    name: cluster.name,
    log,
    info: () => {
      const f = figures();
      return {
        url: f.url,
        pid: process.pid,
        host: hostname(),
        workers: f.workers,
        busy: f.busy,
        clients: JSON.stringify(f.clients.slice(0, 100)),
      };
    },
  });
  log.info(
    {
      event: 'cluster-joined',
      cluster: cluster.name,
      id: membership.id,
      redis: redactRedisUrl(cluster.redisUrl),
      redisVersion: report.version,
    },
    `joined cluster ${cluster.name}`,
  );
  return membership;
}

/** `status.cluster` from the members as last read. */
export function clusterStatus(m: Membership, redisUrl: string): ClusterStatus {
  return { name: m.name, id: m.id, redis: redactRedisUrl(redisUrl), daemons: m.known().map(daemonStatus) };
}

function daemonStatus(r: MemberRecord): ClusterDaemonStatus {
  const workers = Number(r.info.workers ?? 0);
  const busy = Number(r.info.busy ?? 0);
  let clients: ClusterDaemonStatus['clients'] = [];
  try {
    const parsed: unknown = JSON.parse(r.info.clients ?? '[]');
    if (Array.isArray(parsed)) clients = parsed as ClusterDaemonStatus['clients'];
  } catch {
    // A record written by another version: no clients shown rather than no status.
  }
  return {
    id: r.id,
    url: r.info.url ?? '',
    pid: Number(r.info.pid ?? 0),
    host: r.info.host ?? '',
    workers,
    busy,
    idle: Math.max(0, workers - busy),
    lastHeartbeat: r.lastHeartbeat,
    alive: r.alive,
    clients,
  };
}
