/**
 * The primary process: forks the workers, opens the state store, serves
 * clients, and stops gracefully (running chunks finish within a grace, the
 * rest is handed back to clients, state is flushed, exit 0).
 *
 * Start order, for the time to a ready daemon: the workers are forked as soon
 * as the data dir is known to be free, and boot while the primary loads what
 * serves clients (ws, prom-client: imported here, not at the top) and opens
 * the state store (the CLI loads pino then too: `hooks.forked`); cluster
 * mode's modules (ioredis) load only in cluster mode. The daemon listens,
 * and says so, once every worker is ready.
 *
 * Over 400 lines: `startDaemon` is where the parts (supervisor, store,
 * scheduler, server, telemetry, cluster mode) are made and wired to each
 * other, in start order, with the stop that undoes them in reverse; the parts
 * live in their own files, and what is left here is that order.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  CloseCode,
  DaemonRunningError,
  ENVELOPE_BYTES,
  ErrorCode,
  MAX_QUEUED_BYTES,
  MAX_QUEUED_CHUNKS,
  UnavailableError,
  type DaemonStatus,
  type Push,
} from '@corepool/protocol/internal';
import type { DaemonOptions } from '../options.js';
import { secureDataDir } from '../data-dir.js';
import type { StateStore } from '../state/state-store.js';
import type { DaemonServer } from './server.js';
import type { WorkerFigures } from './scheduler.js';
import { Supervisor, type SupervisorEvents, type WorkerSlot } from './supervisor.js';
import { CLUSTER_STATE_WINDOW, LOCAL_STATE_WINDOW } from './state-flow.js';
import { loadOrCreateToken, tokenPath } from './token.js';
import { takeStartLock } from './start-lock.js';
import { DATA_DIR_ENV, killPreviousGeneration, liveDaemon, removeRecord, writeRecord } from './pidfile.js';
import type { Session } from './session.js';
import type { TurnPayer } from './turn-share.js';
import { MAX_RESULT_ENV, RSS_LIMIT_ENV } from '../ipc.js';
import type { OwnFigures } from '../cluster/join-cluster.js';
import type { Membership } from '../cluster/membership.js';
import type { PoolWorker } from './worker-pool.js';
import type { Telemetry } from './telemetry.js';
import { exitText } from './recovery.js';
import type { Logger } from '../logger.js';
import { statusSnapshots } from './status-snapshot.js';
import { Paced } from './paced.js';
import { realClock } from './clock.js';

/** Running chunks get this long to finish on a graceful stop. */
const STOP_GRACE_MS = 10_000;

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A running daemon. */
export interface Daemon {
  url: string;
  port: number;
  stop(): Promise<void>;
  stopped: Promise<void>;
}

/** What the caller of startDaemon may be told as the start goes on. */
export interface StartHooks {
  /** The workers are forked: what the caller defers to their boot (the CLI: loading pino) can load now. */
  forked?(): void;
}

/** Starts the daemon; resolves once it accepts connections. */
export async function startDaemon(opts: DaemonOptions, log: Logger, hooks: StartHooks = {}): Promise<Daemon> {
  const tightened = secureDataDir(opts.dataDir);
  if (tightened !== undefined) log.warn({ event: 'warning', message: tightened }, tightened);
  for (const message of opts.warnings) log.warn({ event: 'warning', message }, message);
  const releaseStartLock = takeStartLock(opts.dataDir);
  const other = liveDaemon(opts.dataDir);
  if (other !== undefined) {
    releaseStartLock();
    throw new DaemonRunningError(
      `a daemon already runs on ${opts.dataDir} (pid ${other.pid}, ${other.url}); stop it with: corepool daemon stop --data-dir ${opts.dataDir}`,
    );
  }
  const killed = killPreviousGeneration(opts.dataDir);
  if (killed.length > 0)
    log.warn(
      { event: 'previous-workers-ended', pids: killed },
      `ended ${killed.length} worker(s) of a previous daemon: ${killed.join(', ')}`,
    );
  const token = opts.token ?? loadOrCreateToken(opts.dataDir);

  // Cluster mode: Redis is checked and joined first, so a Redis that cannot hold the cluster stops the start at once.
  const clustered = opts.cluster === undefined ? undefined : await loadClusterMode();
  let membership: Membership | undefined;
  // What the heartbeat publishes; the real figures once the scheduler and the server exist.
  let ownFigures = (): OwnFigures => ({ url: '', workers: opts.workers, busy: 0, clients: [] });
  if (opts.cluster !== undefined && clustered !== undefined) {
    try {
      membership = await clustered.joinCluster(opts.cluster, () => ownFigures(), log);
    } catch (err) {
      releaseStartLock();
      throw err;
    }
  }

  // What one reply (or result) may carry: a value stored above it could never be read back.
  const maxResult = Math.min(opts.maxPayload, opts.sendHardCap - opts.sendHighWater) - ENVELOPE_BYTES;
  let server: DaemonServer | undefined;
  let url = '';
  let stopping = false;

  process.env[DATA_DIR_ENV] = opts.dataDir;
  // Workers inherit this environment and never need the token: a task could read it.
  delete process.env.COREPOOL_TOKEN;
  // The largest result a worker may send back, as for items: one frame, less room for the envelope. Results
  // leave while the client's send buffer is under the high-water mark, so one must also fit between that
  // mark and the hard cap, or the client would be cut off, reconnect and resubmit the item forever.
  process.env[MAX_RESULT_ENV] = String(Math.max(1024, maxResult));
  process.env[RSS_LIMIT_ENV] = String(opts.workerRssMb * 1024 * 1024);
  const leaving = new WeakMap<WorkerSlot, string>();
  // Until the daemon is wired (below), what the booting workers report (ready, or an early exit) is held, in order.
  const held: (() => void)[] = [];
  let events: SupervisorEvents = {
    onReady: (w) => held.push(() => events.onReady(w)),
    onMessage: (w, m) => held.push(() => events.onMessage(w, m)),
    onExit: (w, code, signal) => held.push(() => events.onExit(w, code, signal)),
  };
  const supervisor: Supervisor = new Supervisor(
    {
      workers: opts.workers,
      reserve: opts.reserveWorkers,
      // COREPOOL_WORKER_NODE_ARGS adds node flags to workers (profiling: "--cpu-prof --cpu-prof-dir=/tmp/p").
      execArgv: [
        `--max-old-space-size=${opts.workerHeapMb}`,
        ...(process.env.COREPOOL_WORKER_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''),
      ],
      rssLimit: opts.workerRssMb * 1024 * 1024,
      onRssKill: (w, rss) =>
        log.warn({ event: 'worker-rss-kill', slot: w.slot, pid: w.pid, rssMb: Math.round(rss / 1048576), limitMb: opts.workerRssMb }),
      onEvent: (e) => log.warn(e),
      log,
      // Results and a task's state operands are bounded by maxPayload: a frame far past it is a broken channel.
      maxFrame: Math.max(64 * 1024 * 1024, 4 * opts.maxPayload),
      ...(opts.init === undefined ? {} : { init: opts.init }),
      initTimeoutMs: opts.initTimeoutMs,
    },
    {
      onReady: (w) => events.onReady(w),
      onMessage: (w, m) => events.onMessage(w, m),
      onExit: (w, c, s) => events.onExit(w, c, s),
      onKilled: (w) => events.onKilled?.(w),
    },
  );
  const workersUp = supervisor.start();
  hooks.forked?.();

  // While they boot: what serves clients, and the state store.
  let state: StateStore;
  let serving: Awaited<ReturnType<typeof loadServing>>;
  try {
    serving = await loadServing();
    // Cluster mode keeps the shared state in Redis, shared by every daemon of the cluster; standalone, in LMDB.
    state =
      membership !== undefined && clustered !== undefined
        ? await clustered.RedisState.open({
            node: membership,
            maxValueBytes: maxResult,
            log,
            ...(opts.replayWindowMs === undefined ? {} : { orphanWaitMs: opts.replayWindowMs }),
          })
        : await serving.SharedState.open({
            dataDir: opts.dataDir,
            fsync: opts.fsync,
            maxValueBytes: maxResult,
            maxStateBytes: opts.maxStateMb === 0 ? Infinity : opts.maxStateMb * 1024 * 1024,
          }).then(
            (shared) => {
              for (const message of shared.warnings) log.warn({ event: 'warning', message }, message);
              return shared;
            },
            (err: unknown) => {
              throw new Error(`cannot open the state store in ${opts.dataDir}/state`, { cause: err });
            },
          );
  } catch (err) {
    await supervisor.stop();
    await membership?.leave();
    releaseStartLock();
    throw err;
  }
  const {
    DaemonServer,
    Telemetry,
    HttpRoutes,
    addDashboard,
    metricsRoute,
    Scheduler,
    Reloader,
    ReplayTable,
    REPLY_SHARE,
    WorkerStateLink,
    LogThrottle,
  } = serving;
  const startedAt = Date.now();

  events = {
    onReady: (w) => {
      if (w.replacing !== undefined && !stopping)
        log.info({ event: 'worker-replaced', slot: w.slot, pid: w.pid, ms: Date.now() - w.replacing });
      stateLink.ready(w);
      recordPids();
      if (clusterPool !== undefined) clusterPool.localReady(w);
      else scheduler.workerReady(w);
    },
    onMessage: (w, m) => {
      // A worker that leaves on its own says why first: its exit's cause in the log.
      if (m.t === 'recycle') leaving.set(w, `recycled: ${m.reason}`);
      else if (m.t === 'uncaught') leaving.set(w, 'uncaught exception');
      if (m.t === 'state') stateLink.request(w, m);
      else if (m.t === 'state.cancel') stateLink.cancelBlocked(w, m.locks === true);
      else if (m.t === 'state.return') stateLink.giveBack(w, m);
      else if (m.t === 'state.ack') stateLink.acked(w, m.rid);
      else if (clusterPool !== undefined) clusterPool.localMessage(w, m);
      else scheduler.workerMessage(w, m);
    },
    // Its locks, subscriptions and blocked gets end with it: from the kill on, not at its exit a moment later.
    onKilled: (w) => stateLink.killed(w),
    onExit: (w, code, signal) => {
      // Its locks and subscriptions end with it.
      stateLink.gone(w);
      if (!stopping) telemetry.workerExit(w, code, signal);
      if (!stopping) logWorkerExit(log, w, code, signal, leaving.get(w));
      const how = exitText(w.killedFor, code, signal);
      if (clusterPool !== undefined) clusterPool.localExit(w, how);
      else scheduler.workerExit(w, false, how);
    },
  };
  // Cluster mode: the scheduler takes a ClusterPool (these workers and those lent to this daemon), and the
  // Supervisor's events go through it (cluster/cluster-pool.ts).
  const clusterPool =
    membership === undefined || clustered === undefined
      ? undefined
      : new clustered.ClusterPool(membership, supervisor, {
          firstRemoteSlot: opts.workers + opts.reserveWorkers,
          pipelineDepth: opts.pipelineDepth,
          log: (e) => log.info(e),
        });
  // What the daemon measures of itself, for /metrics and status (telemetry.ts).
  const telemetry: Telemetry = new Telemetry({
    workers: () => supervisor.workers(),
    poolSize: () => scheduler.workerCount(),
    running: () => [...scheduler.runningChunks()].map((r) => ({ ...r, slot: r.worker.slot })),
    queues: () => {
      const per = scheduler.stats().perClient;
      return [...(server?.sessions ?? [])]
        .filter((s) => s.authed)
        .map((s) => ({ client: s, queuedChunks: per.get(s.id)?.queuedChunks ?? 0, runningChunks: per.get(s.id)?.runningChunks ?? 0 }));
    },
    clients: () => [...(server?.sessions ?? [])].filter((s) => s.authed).length,
    ...(membership === undefined || clusterPool === undefined
      ? {}
      : { cluster: () => ({ daemons: membership.known().length, ...clusterPool.figures() }) }),
  });
  telemetry.watchState(state);
  const scheduler = new Scheduler<PoolWorker>(clusterPool ?? supervisor, {
    observer: telemetry,
    pipelineDepth: opts.pipelineDepth,
    maxQueuedChunks: MAX_QUEUED_CHUNKS,
    maxQueuedBytes: MAX_QUEUED_BYTES,
    maxTasksPerWorker: opts.maxTasksPerWorker,
  });
  clusterPool?.attach(scheduler);
  // Rolling reloads (reload.ts) of the local workers; cluster mode has none yet (docs/design.md).
  const reloader = clusterPool === undefined ? new Reloader(supervisor, scheduler, (e) => log.info(e)) : undefined;
  const figuresOf = (w: WorkerSlot): WorkerFigures => clusterPool?.workerFigures(w) ?? scheduler.workerFigures(w);
  // A task's shared-state traffic, under its worker's owner name ("w:<cluster worker id>", unique per process;
  // in cluster mode with a random tag of this daemon's, unique in the cluster: a lent worker keeps its link here).
  const ownerTag = membership === undefined ? '' : `${randomBytes(6).toString('base64url')}:`;
  const lentPayers = new WeakMap<WorkerSlot, TurnPayer>();
  const stateLink = new WorkerStateLink<WorkerSlot>(
    state,
    {
      owner: (w) => `w:${ownerTag}${w.id}`,
      send: (w, m) => supervisor.send(w, m),
      dead: (w) => w.dead || w.killed === true,
      exited: (w) => w.dead,
      payer: (w) => {
        if (clusterPool === undefined) return scheduler.clientOn(w)?.turns;
        if (!clusterPool.lentAway(w)) return clusterPool.clientOn(w)?.turns;
        // A lent worker's tasks pay a share of their own, as a connection would (session.ts turnPayer).
        let p = lentPayers.get(w);
        if (p === undefined) lentPayers.set(w, (p = serving.turnPayer()));
        return p;
      },
      pause: (w) => w.channel.pause(),
      resume: (w) => w.channel.resume(),
      unsent: (w) => w.channel.unsent,
      whenSent: (w, fn) => w.channel.whenSent(fn),
    },
    'w:',
    opts.sendHighWater,
  );

  // A lease lost (paused, cut off) means another daemon may take over this one's locks: their holders
  // must hear it. Their connections close (the SDK aborts each grant's signal with E_LOCK_NOT_HELD,
  // then reconnects and carries on); a task holding one has its worker ended (its chunk is retried).
  membership?.on('lost', () => {
    if (clustered === undefined || !(state instanceof clustered.RedisState)) return;
    const holders = new Set(state.lockHolders());
    if (holders.size === 0) return;
    for (const s of [...(server?.sessions ?? [])]) if (holders.has(s.owner)) s.close(CloseCode.RESTART, ErrorCode.E_UNAVAILABLE);
    for (const w of supervisor.workers()) if (holders.has(`w:${ownerTag}${w.id}`)) supervisor.kill(w, 'cluster lease lost');
    log.warn({ event: 'cluster-locks-lost', holders: holders.size });
  });

  state.onPush = (owner: string, push: Push) => {
    if (stateLink.push(owner, push)) return;
    server?.session(owner)?.push(push);
  };
  // A write's pushes and a large listing's encoding are work for its owner's connection (a task's, for its
  // client's: worker-state-link.ts).
  state.onOwnerCost = (writer: string, ms: number) => {
    if (!stateLink.charge(writer, ms)) server?.session(writer)?.charge(ms);
  };

  ownFigures = () => {
    const st = scheduler.stats();
    const workers = supervisor.workers().filter((w) => !w.reserve);
    return {
      url,
      workers: workers.length,
      busy: workers.filter((w) => figuresOf(w).busy).length,
      clients: [...(server?.sessions ?? [])]
        .filter((s) => s.authed)
        .map((s) => ({
          name: s.name,
          queuedChunks: st.perClient.get(s.id)?.queuedChunks ?? 0,
          runningChunks: st.perClient.get(s.id)?.runningChunks ?? 0,
        }))
        .filter((c) => c.queuedChunks + c.runningChunks > 0),
    };
  };

  // Wired: what the workers said while it was not, then the rest as it comes.
  for (const deliver of held.splice(0)) deliver();
  const throughput = new Throughput(() => scheduler.itemsDone);

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

  const status = (): DaemonStatus => {
    const st = scheduler.stats();
    const counts = state.counts();
    const figures = telemetry.status();
    const workers = supervisor.workers().map((w) => ({
      id: w.id,
      pid: w.pid,
      ...figuresOf(w),
      restarts: w.restarts,
      generation: w.generation,
      ...(w.initError === undefined ? {} : { initError: w.initError }),
      ...(w.reserve ? { reserve: true } : {}),
      ...figures.worker(w),
    }));
    // Reserve workers apart: `workers` is the pool `--workers` asked for, as the listening line and client.workers say.
    const reserveWorkers = workers.filter((w) => w.reserve === true);
    return {
      pid: process.pid,
      version: VERSION,
      url,
      uptimeMs: Date.now() - startedAt,
      workers: reserveWorkers.length === 0 ? workers : workers.filter((w) => w.reserve !== true),
      ...(reserveWorkers.length === 0 ? {} : { reserveWorkers }),
      ...(reloader?.progress === undefined ? {} : { reload: reloader.progress }),
      clients: [...(server?.sessions ?? [])]
        .filter((s) => s.authed)
        .map((s: Session) => {
          const c = st.perClient.get(s.id);
          return {
            id: s.id,
            name: s.name,
            batches: c?.batches ?? 0,
            queuedChunks: c?.queuedChunks ?? 0,
            runningChunks: c?.runningChunks ?? 0,
            sendBuffered: s.sendBuffered,
            maxSendBuffered: s.maxSendBuffered,
            weight: s.weight,
            ...(s.maxWorkers === undefined ? {} : { maxWorkers: s.maxWorkers }),
            primaryMs: Math.round(s.primaryMs * 10) / 10,
            ...figures.client(s),
          };
        }),
      queuedItems: st.queuedItems,
      runningItems: st.runningItems,
      itemsDone: scheduler.itemsDone,
      throughput: throughput.rate(scheduler.itemsDone),
      values: counts.values,
      queues: counts.queues,
      dicts: counts.dicts,
      locks: counts.locks,
      blockedGets: counts.blockedGets,
      lockWaiters: counts.lockWaiters,
      ...(counts.memory === undefined
        ? {}
        : {
            stateBytes: counts.memory.usedBytes,
            ...(Number.isFinite(counts.memory.limitBytes) ? { maxStateBytes: counts.memory.limitBytes } : {}),
            stateEntryBytes: counts.memory.entryBytes,
            stateReplyBytes: counts.memory.replyBytes,
          }),
      workerRestarts: supervisor.restarts,
      ...figures.daemon(),
      ...(membership === undefined || opts.cluster === undefined || clustered === undefined
        ? {}
        : { cluster: clustered.clusterStatus(membership, opts.cluster.redisUrl) }),
    };
  };

  const stop = async (): Promise<void> => {
    if (stopping) return stopped;
    stopping = true;
    reloader?.stop();
    log.info(
      { event: 'stopping', graceMs: STOP_GRACE_MS },
      `stopping: finishing running chunks (for up to ${STOP_GRACE_MS / 1000} s), handing the rest back to clients`,
    );
    scheduler.stopAccepting();
    server?.stopListening();
    let grace: NodeJS.Timeout | undefined;
    const idle = await Promise.race([
      scheduler.idle().then(() => true),
      new Promise<false>((r) => (grace = setTimeout(() => r(false), STOP_GRACE_MS))),
    ]);
    clearTimeout(grace);
    // Said, or a stop behind a task that never ends waited 10 s in silence (a new user's case).
    if (!idle)
      log.warn(
        { event: 'stop-grace-over', graceMs: STOP_GRACE_MS },
        'stopping: the grace is over: chunks still running are ended, and go back to their clients',
      );
    await clusterPool?.stop();
    server?.closeAll(CloseCode.RESTART, ErrorCode.E_SHUTTING_DOWN);
    await supervisor.stop();
    telemetry.close();
    await state.close();
    await membership?.leave();
    removeRecord(opts.dataDir);
    releaseStartLock();
    log.info({ event: 'stopped' }, 'stopped');
    resolveStopped();
  };

  // What plain HTTP requests reach on the daemon's port besides the WebSocket upgrade.
  const routes = new HttpRoutes();
  const statuses = statusSnapshots(status, realClock);
  const stateCounts = new Paced(() => state.counts(), realClock);
  addDashboard(routes, { token, status: () => statuses.next().then((m) => m.json()), counts: () => stateCounts.next(), state });
  routes.add('/metrics', metricsRoute(telemetry.metrics, token));
  server = new DaemonServer(
    {
      host: opts.host,
      port: opts.port,
      maxClients: opts.maxClients,
      maxPayload: opts.maxPayload,
      heartbeatMs: opts.heartbeatMs,
      maxPreUpgrade: opts.maxPreUpgrade,
      preUpgradeMs: opts.authDeadlineMs,
      routes,
    },
    {
      token,
      scheduler,
      state,
      allowSource: opts.allowSource,
      maxPayload: opts.maxPayload,
      preAuthMaxPayload: opts.preAuthMaxPayload,
      authDeadlineMs: opts.authDeadlineMs,
      heartbeatMs: opts.heartbeatMs,
      statusReply: () => statuses.next().then((m) => m.reply()),
      stop: () => void stop(),
      steering: { maxClientWeight: opts.maxClientWeight, clientWeights: opts.clientWeights, clientMaxWorkers: opts.clientMaxWorkers },
      steeringLog: new LogThrottle(),
      reload: (graceMs) =>
        reloader === undefined
          ? Promise.reject(
              new UnavailableError('reload is per daemon and not available in cluster mode yet: restart the daemons one at a time'),
            )
          : reloader.reload(graceMs),
      replays: new ReplayTable(
        (instance, rid) => state.dropReply([instance, rid]),
        state.keptReplies(),
        { items: (bytes) => state.holdItems(bytes), replies: (bytes) => state.holdReplies(bytes) },
        (instance, mark) => state.markTooOld(instance, mark),
        {
          bytes: opts.maxStateMb === 0 ? Infinity : opts.maxStateMb * 1024 * 1024 * REPLY_SHARE,
          ...(opts.replayWindowMs === undefined ? {} : { keepMs: opts.replayWindowMs }),
          shed: (replies, instances, evicted, heldAfter, ms) =>
            log.warn(
              { event: 'replies-shed', replies, instances, evicted, heldAfter, ms: Math.round(ms * 10) / 10 },
              `kept replies over their bound (a quarter of --max-state-mb): ${replies} unacknowledged replies of the ${instances} client instance(s) keeping the most, and of ${evicted} instance(s) cut off longest (evicted before their reconnect window ended), were dropped; their resends get E_REPLY_DROPPED`,
            ),
          cleared: (instances, replies, { slices, ms, longestMs }) =>
            log.info({
              event: 'replies-cleared',
              instances,
              replies,
              slices,
              ms: Math.round(ms * 10) / 10,
              longestSliceMs: Math.round(longestMs * 10) / 10,
            }),
        },
        (queue, items) => state.undeliveredItems(queue, items),
      ),
      stateWindow: membership === undefined ? LOCAL_STATE_WINDOW : CLUSTER_STATE_WINDOW,
      send: {
        highWater: opts.sendHighWater,
        hardCap: opts.sendHardCap,
        softCapMs: opts.sendSoftCapMs,
        maxPayload: opts.maxPayload,
        shared: new serving.SendBudget(serving.sendBudgetBytes(opts.sendHighWater, opts.sendHardCap)),
      },
      receiving: new serving.ReceiveBudget(serving.receiveBudgetBytes(opts.maxPayload)),
      log,
      onDrain: (session) => scheduler.drained(session),
      onRefused: (client, e) => telemetry.refused(e.code, e.message, client?.name),
    },
  );
  const port = await server.listen().catch((err: NodeJS.ErrnoException) => {
    // Node's message names the address alone: say what to do (a new user's start failed with no hint).
    if (err.code === 'EADDRINUSE') err.message += `: another process holds the port; pass another --port (0 picks a free one)`;
    throw err;
  });
  const host = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host;
  url = `ws://${host}:${port}`;
  // The server is made and its port bound while the workers boot, off the start's path (a client that
  // connects meanwhile is served, its chunks wait for a worker); the daemon records itself and says it
  // listens once they are up, as before.
  await workersUp;
  clusterPool?.start();

  function recordPids(): void {
    if (url !== '') writeRecord(opts.dataDir, { url, workerPids: supervisor.pids(), startedAt: new Date(startedAt).toISOString() });
  }
  recordPids();
  await membership?.beat();
  log.info(
    {
      event: 'listening',
      url,
      pid: process.pid,
      workers: opts.workers,
      dataDir: opts.dataDir,
      tokenFile: opts.token === undefined ? tokenPath(opts.dataDir) : (opts.tokenFile ?? null),
      maxClients: opts.maxClients,
      maxPreUpgrade: opts.maxPreUpgrade,
      openFilesLimit: opts.openFilesLimit ?? null,
      workerHeapMb: opts.workerHeapMb,
      workerRssMb: opts.workerRssMb,
      ...(opts.init === undefined ? {} : { init: opts.init }),
    },
    `listening on ${url}`,
  );
  // Off the start's path: the process watch's thread. prom-client loads with the first scrape (metrics.ts).
  supervisor.watchProcesses();
  return { url, port, stop, stopped };
}

/** What serves clients (serving.ts): loaded after the workers are forked, while they boot. */
function loadServing(): Promise<typeof import('./serving.js')> {
  return import('./serving.js');
}

/** Cluster mode's modules (ioredis among them): a standalone daemon never loads them. */
async function loadClusterMode() {
  const [{ RedisState }, { joinCluster, clusterStatus }, { ClusterPool }] = await Promise.all([
    import('../cluster/state/redis-state.js'),
    import('../cluster/join-cluster.js'),
    import('../cluster/cluster-pool.js'),
  ]);
  return { RedisState, joinCluster, clusterStatus, ClusterPool };
}

/**
 * Says why a worker is being replaced, at warn with its id and pid (info for a planned
 * retirement): what the primary killed it for, else what it said as it left, else how it died.
 */
function logWorkerExit(log: Logger, w: WorkerSlot, code: number | null, signal: string | null, said: string | undefined): void {
  const cause =
    w.killedFor === 'rss'
      ? 'memory limit'
      : w.killedFor === 'stopped'
        ? 'stuck (stopped)'
        : (w.killedFor ?? said ?? (signal !== null ? `crash (signal ${signal})` : `crash (exit code ${code})`));
  const fields = { event: 'worker-exit', slot: w.slot, id: w.id, pid: w.pid, code, signal, cause };
  if (w.killedFor === 'retired') log.info(fields, `worker ${w.pid} retired after its task budget; replacing it`);
  else if (w.killedFor === 'reload') log.info(fields, `worker ${w.pid} drained by a rolling reload; replacing it`);
  else log.warn(fields, `worker ${w.pid} exited (code ${code}, signal ${signal}, ${cause}); replacing it`);
}

/** Items per second over the last five seconds, sampled once a second. */
class Throughput {
  #samples: [number, number][] = [[Date.now(), 0]];
  constructor(read: () => number) {
    setInterval(() => {
      this.#samples.push([Date.now(), read()]);
      if (this.#samples.length > 6) this.#samples.shift();
    }, 1000).unref();
  }
  rate(done: number): number {
    const [t0, d0] = this.#samples[0]!;
    const now = Date.now();
    return now > t0 ? Math.round(((done - d0) * 1000) / (now - t0)) : 0;
  }
}
