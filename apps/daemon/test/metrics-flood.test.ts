/**
 * A scraper holding the token that asks for /metrics over and over (four requests in flight, in
 * a process of its own), beside 300 clients that each ran an item (their series shared past the
 * label bound, 32 names) and an honest neighbour awaiting adds. Renders are paced as statuses are
 * (paced.ts): without that, each scrape took ~5 ms of the primary beside a thousand clients,
 * charged to no connection, and the neighbour's adds fell from 15,400-21,400 in 3 s to 886;
 * beside these 300, from 9,379-10,834 to 560-929 (paced: 9,115-12,677). The bound is a quarter
 * of what the neighbour does alone, the flood in the same process model on both sides. Every
 * scrape still answers 200, and one made after an item's result counts it.
 */
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import type { Client, Value } from '@corepool/client';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';
import { scrapeMetrics } from './support/metrics.js';
import { addsBeside } from './support/neighbour.js';

const IDLE = 300;
const WINDOW_MS = 3000;

/** Four GETs of /metrics in flight from a process of its own until SIGTERM; it prints how many it made and their statuses. */
const SCRAPER = `
const http = require('node:http');
const [port, token] = process.argv.slice(1);
let n = 0;
const statuses = new Set();
const one = () => new Promise((done) => {
  const req = http.get({ host: '127.0.0.1', port: Number(port), path: '/metrics', headers: { authorization: 'Bearer ' + token } }, (r) => {
    statuses.add(r.statusCode);
    r.resume();
    r.on('end', done);
    r.on('error', done);
  });
  req.on('error', done);
});
for (let i = 0; i < 4; i++) (async () => { for (;;) { await one(); n++; } })();
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify({ n, statuses: [...statuses] })); process.exit(0); });
`;

/** The neighbour's adds in WINDOW_MS, with the scraper running beside it or not. */
async function addsIn(
  d: TestDaemon,
  counter: Value<number>,
  flood: boolean,
): Promise<{ adds: number; scrapes: number; statuses: number[] }> {
  const child = flood
    ? spawn(process.execPath, ['-e', SCRAPER, String(d.port), d.token], { stdio: ['ignore', 'pipe', 'inherit'] })
    : undefined;
  let out = '';
  child?.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  const neighbour = addsBeside(counter);
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const { adds } = await neighbour.stop();
  if (child === undefined) return { adds, scrapes: 0, statuses: [] };
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await exited;
  const { n, statuses } = JSON.parse(out) as { n: number; statuses: number[] };
  return { adds, scrapes: n, statuses };
}

it("a scraper flooding /metrics beside 300 clients leaves a neighbour's adds their pace, and every scrape is answered", async () => {
  await using d = await startDaemon();
  const idle: Client[] = [];
  for (let i = 0; i < IDLE; i += 100)
    idle.push(...(await Promise.all(Array.from({ length: 100 }, (_, j) => d.connect({ name: `idle${i + j}` })))));
  await Promise.all(idle.map((c, i) => c.submit((x: number) => x + 1, i)));
  const app = await d.connect({ name: 'metrics-neighbour' });
  const counter = app.value<number>('n', { initial: 0 });
  await counter.get();
  await scrapeMetrics(d.port, d.token); // prom-client loaded before either window

  const alone = await addsIn(d, counter, false);
  const beside = await addsIn(d, counter, true);
  figure('metrics.flood', { aloneAdds: alone.adds, besideAdds: beside.adds, scrapes: beside.scrapes });
  expect(beside.statuses).toEqual([200]);
  expect(beside.scrapes).toBeGreaterThan(4);
  expect(beside.adds).toBeGreaterThan(alone.adds / 4);
  expect(await counter.get()).toBe(alone.adds + beside.adds);

  // A scrape asked for after an item's result counts it, paced or not (summed over the labels: past their bound, the neighbour has none of its own).
  const done = (text: string): number =>
    text
      .split('\n')
      .filter((l) => l.startsWith('corepool_items_done_total{'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  const was = done(await scrapeMetrics(d.port, d.token));
  await app.submit((x: number) => x, 1);
  expect(done(await scrapeMetrics(d.port, d.token))).toBe(was + 1);
  await Promise.all([...idle, app].map((c) => c.close()));
}, 60_000);
