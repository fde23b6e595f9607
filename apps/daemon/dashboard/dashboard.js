/*
 * dashboard.js - the dashboard page's script (served as a file: the page's
 * Content-Security-Policy runs no inline script). Polls /api/status once a
 * second and /api/state with it, and renders them; every value from the
 * daemon goes into the page as text (textContent), never as HTML, since
 * client names, state names and values come from apps. Figures a daemon does
 * not report (older daemons, optional fields) show as "–".
 */

const POLL_MS = 1000;
/** Points kept per chart: five minutes at one a second. */
const HISTORY = 300;
const STATE_PAGE = 100;
/** Rows a table shows: a daemon with thousands of clients must not make the page rebuild thousands of rows a second. */
const MAX_ROWS = 200;
const DASH = '–';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @param {unknown} v */
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v.toLocaleString('en-US') : DASH);
/** @param {unknown} v */
const opt = (v) => (v === undefined || v === null || v === '' ? DASH : String(v));
/** @param {unknown} bytes */
const mib = (bytes) => (typeof bytes === 'number' ? `${(bytes / 1048576).toFixed(1)} MiB` : DASH);
/** @param {unknown} f */
const pct = (f) => (typeof f === 'number' ? `${(f * 100).toFixed(0)}%` : DASH);
/**
 * @param {unknown} n
 * @param {string} noun
 */
const count = (n, noun) => `${num(n)} ${noun}${n === 1 ? '' : 's'}`;
/** @param {number} ms */
const ago = (ms) => {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
};
/** @param {number} ms */
const duration = (ms) => {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
};

/**
 * Replaces a table's rows: one per item, each cell text (or [text, class]).
 * @param {string} id
 * @param {unknown[]} items
 * @param {(item: any) => (string | [string, string])[]} cells
 * @param {string} empty
 */
function rows(id, items, cells, empty) {
  const table = /** @type {HTMLTableElement} */ ($(id));
  const body = table.tBodies[0];
  const width = table.tHead?.rows[0]?.cells.length ?? 1;
  const out = [];
  if (items.length === 0) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = width;
    td.className = 'empty';
    td.textContent = empty;
    tr.append(td);
    out.push(tr);
  }
  for (const item of items.slice(0, MAX_ROWS)) {
    const tr = document.createElement('tr');
    for (const c of cells(item)) {
      const td = document.createElement('td');
      const [text, cls] = Array.isArray(c) ? c : [c, ''];
      td.textContent = text;
      if (cls !== '') td.className = cls;
      tr.append(td);
    }
    out.push(tr);
  }
  if (items.length > MAX_ROWS) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = width;
    td.className = 'empty';
    td.textContent = `… and ${(items.length - MAX_ROWS).toLocaleString('en-US')} more (corepool daemon status --json lists them all)`;
    tr.append(td);
    out.push(tr);
  }
  body.replaceChildren(...out);
}

/**
 * A line chart of one series over time.
 * @param {string} id
 * @param {{ label: string, stroke: string }[]} series
 */
function chart(id, series) {
  const el = $(id);
  /** @type {number[][]} */
  const data = [[], ...series.map(() => [])];
  const plot = new uPlot(
    {
      width: Math.min(640, Math.max(320, (window.innerWidth - 120) / 2)),
      height: 200,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: true }))],
      // HH:MM:SS, at least 80 px apart: the default labels crowd a few minutes of seconds.
      axes: [{ space: 80, values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toTimeString().slice(0, 8)) }, { size: 60 }],
      scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(1, max * 1.1, min)] } },
      legend: { live: false },
    },
    /** @type {any} */ (data),
    el,
  );
  return {
    /** @param {(number | null)[]} ys */
    push(ys) {
      data[0].push(Date.now() / 1000);
      ys.forEach((y, i) => data[i + 1].push(/** @type {number} */ (y)));
      if (data[0].length > HISTORY) for (const d of data) d.shift();
      plot.setData(/** @type {any} */ (data));
    },
  };
}

const throughputChart = chart('chart-throughput', [{ label: 'items/s', stroke: '#2f6fd6' }]);
const latencyChart = chart('chart-latency', [
  { label: 'p50', stroke: '#1e8e4e' },
  { label: 'p99', stroke: '#c0392b' },
]);

/** The name of the client behind an owner ("c:12", or "<daemon id>/c:12" in a cluster), when it is one of this daemon's. */
let clientNames = new Map();
/** This daemon's id in its cluster (owners of other daemons' clients start with theirs). */
let ownId = '';
/** @param {string} owner */
function ownerName(owner) {
  const m = /^(?:(.*)\/)?c:(\d+)$/.exec(owner);
  const ours = m !== null && (m[1] === undefined || m[1] === ownId);
  const name = ours ? clientNames.get(Number(m[2])) : undefined;
  return name === undefined ? owner : `${name} (${owner})`;
}

/** @param {any} s DaemonStatus */
function renderStatus(s) {
  $('daemon').textContent = `${s.url} · pid ${s.pid} · v${s.version}`;
  $('itemsDone').textContent = num(s.itemsDone);
  $('throughput').textContent = num(s.throughput);
  $('queuedItems').textContent = num(s.queuedItems);
  $('runningItems').textContent = num(s.runningItems);
  $('latency').textContent = s.latency === undefined ? DASH : `${num(s.latency.p50Ms)} / ${num(s.latency.p99Ms)} ms`;
  $('workerRestarts').textContent = num(s.workerRestarts);
  $('uptime').textContent = duration(s.uptimeMs);
  throughputChart.push([s.throughput]);
  latencyChart.push(s.latency === undefined ? [null, null] : [s.latency.p50Ms, s.latency.p99Ms]);
  clientNames = new Map(s.clients.map((/** @type {any} */ c) => [c.id, c.name]));
  ownId = s.cluster?.id ?? '';

  rows(
    'workers',
    // The reserve workers (listed apart in the status) in the same table, after the pool's.
    [...s.workers, ...(s.reserveWorkers ?? [])],
    (w) => [
      String(w.id),
      String(w.pid),
      w.busy ? ['busy', 'busy'] : w.reserve === true ? 'reserve' : 'idle',
      opt(w.batch),
      opt(w.client),
      num(w.tasksDone),
      num(w.chunksDone),
      num(w.restarts),
      w.lastRestart === undefined ? DASH : `${w.lastRestart.cause}, ${ago(w.lastRestart.at)}`,
      mib(w.rss),
      pct(w.cpu),
    ],
    'no workers',
  );
  rows(
    'clients',
    s.clients,
    (c) => [
      String(c.id),
      c.name,
      num(c.batches),
      num(c.queuedChunks),
      num(c.runningChunks),
      num(c.itemsDone),
      pct(c.share),
      opt(c.weight),
      opt(c.maxWorkers),
    ],
    'no clients connected',
  );
  const cluster = s.cluster;
  $('clusterSection').hidden = cluster === undefined;
  if (cluster !== undefined) {
    $('clusterName').textContent = `${cluster.name} on ${cluster.redis}`;
    rows(
      'cluster',
      cluster.daemons,
      (d) => [
        d.id === cluster.id ? `${d.id} (this one)` : d.id,
        d.url,
        d.host,
        String(d.pid),
        num(d.workers),
        num(d.busy),
        num(d.idle),
        d.clients.map((/** @type {any} */ c) => `${c.name} (${c.queuedChunks}q/${c.runningChunks}r)`).join(', ') || DASH,
        ago(d.lastHeartbeat),
        d.alive ? ['yes', ''] : ['no', 'dead'],
      ],
      'no daemons',
    );
  }
  rows(
    'errors',
    s.recentErrors === undefined ? [] : [...s.recentErrors].reverse(),
    (e) => [new Date(e.at).toLocaleTimeString(), e.code, opt(e.client), ['' + e.message, 'wrap']],
    s.recentErrors === undefined ? 'not reported by this daemon' : 'none',
  );
}

/** The state page shown: its cursor (undefined: the first) and the next page's. */
let stateCursor = /** @type {string | undefined} */ (undefined);
let stateNext = /** @type {string | undefined} */ (undefined);

/** @param {any} p StateListing with counts */
function renderState(p) {
  stateNext = p.next;
  /** @type {HTMLButtonElement} */ ($('stateNext')).disabled = p.next === undefined;
  /** @type {HTMLButtonElement} */ ($('statePrev')).disabled = stateCursor === undefined;
  const c = p.counts;
  $('stateCounts').textContent = [
    count(c.values, 'value'),
    count(c.queues, 'queue'),
    count(c.dicts, 'dict'),
    `${count(c.locks, 'lock')} held`,
  ].join(' · ');
  rows(
    'state',
    p.entries,
    (e) => [
      e.kind,
      ['' + e.name, 'wrap'],
      e.kind === 'value'
        ? ['' + e.preview, 'wrap']
        : e.kind === 'queue'
          ? count(e.size, 'item')
          : e.kind === 'dict'
            ? count(e.size, 'key')
            : `held by ${ownerName(e.holder)}`,
      e.version === undefined ? '' : String(e.version),
    ],
    'no named state',
  );
}

$('stateNext').addEventListener('click', () => {
  stateCursor = stateNext;
  void poll();
});
$('statePrev').addEventListener('click', () => {
  stateCursor = undefined;
  void poll();
});

/** @param {string} path */
async function get(path) {
  const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (r.status === 401) {
    location.href = '/login';
    throw new Error('logged out');
  }
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

async function poll() {
  const live = $('live');
  try {
    const q = new URLSearchParams({ limit: String(STATE_PAGE) });
    if (stateCursor !== undefined) q.set('cursor', stateCursor);
    const [status, state] = await Promise.all([get('/api/status'), get(`/api/state?${q}`)]);
    renderStatus(status);
    renderState(state);
    live.textContent = `live · ${new Date().toLocaleTimeString()}`;
    live.className = 'live ok';
  } catch (err) {
    live.textContent = `not updating: ${err instanceof Error ? err.message : String(err)}`;
    live.className = 'live stale';
  }
}

async function loop() {
  for (;;) {
    const started = Date.now();
    await poll();
    await new Promise((r) => setTimeout(r, Math.max(100, POLL_MS - (Date.now() - started))));
  }
}
void loop();
