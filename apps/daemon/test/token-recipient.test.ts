/**
 * A data dir's token goes only to the daemon that data dir records, while it
 * runs. The CLI and connect() used to send it, with no URL given, to the URL
 * of a daemon.json whose daemon had exited (or to the default port when there
 * was none): whatever listened there got the token, and with it the right to
 * run code as the daemon's user. Here a server that is not a daemon listens at
 * the URL a stale daemon.json names; nobody may even connect to it.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { connect } from '@corepool/client';
import { CLI, startDaemon } from './support/daemon.js';

const run = promisify(execFile);

let dataDir: string;
let server: WebSocketServer;
const heard: string[] = [];
const saved = { url: process.env.COREPOOL_URL, token: process.env.COREPOOL_TOKEN };

beforeEach(async () => {
  delete process.env.COREPOOL_URL;
  delete process.env.COREPOOL_TOKEN;
  dataDir = mkdtempSync(join(tmpdir(), 'corepool-recipient-'));
  server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (ws) => {
    heard.push('connection');
    // Hears the hello and answers what no daemon would: the CLI given this URL fails at once, with a code.
    ws.on('message', (m) => {
      heard.push(String(m));
      ws.send(Buffer.from([0xc1, 0x00]));
    });
  });
  await new Promise((r) => server.once('listening', r));
  // A daemon killed with -9 left these: its token, and a daemon.json naming a process that has exited.
  const gone = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => gone.once('exit', r));
  writeFileSync(join(dataDir, 'token'), 'the-data-dirs-token\n', { mode: 0o600 });
  const { port } = server.address() as { port: number };
  writeFileSync(
    join(dataDir, 'daemon.json'),
    JSON.stringify({ pid: gone.pid, startTime: 1, url: `ws://127.0.0.1:${port}`, workerPids: [], startedAt: new Date().toISOString() }),
    { mode: 0o600 },
  );
});

afterEach(async () => {
  heard.length = 0;
  await new Promise((r) => server.close(r));
  rmSync(dataDir, { recursive: true, force: true });
  if (saved.url !== undefined) process.env.COREPOOL_URL = saved.url;
  if (saved.token !== undefined) process.env.COREPOOL_TOKEN = saved.token;
});

it('the CLI says no daemon runs there (E_CONNECTION) and connects to nothing', async () => {
  for (const args of [
    ['daemon', 'status', '--json'],
    ['state', 'ls', '--json'],
  ]) {
    const r = await run(process.execPath, [CLI, ...args, '--data-dir', dataDir]).catch((e: { code: number; stdout: string }) => e);
    expect((r as { code: number }).code, args.join(' ')).toBe(1);
    expect(JSON.parse((r as { stdout: string }).stdout), args.join(' ')).toMatchObject({
      error: { code: 'E_CONNECTION', message: expect.stringContaining(`no daemon runs on ${dataDir}`) },
    });
  }
  for (const args of [
    ['daemon', 'stop'],
    ['daemon', 'reload'],
  ]) {
    const r = await run(process.execPath, [CLI, ...args, '--data-dir', dataDir]).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code, args.join(' ')).toBe(1);
    expect((r as { stderr: string }).stderr, args.join(' ')).toMatch(/no daemon runs on .*E_CONNECTION/s);
  }
  expect(heard).toEqual([]);
});

it('connect() says no daemon runs there (E_CONNECTION) and connects to nothing', async () => {
  await expect(connect({ dataDir })).rejects.toMatchObject({
    code: 'E_CONNECTION',
    message: expect.stringMatching(/no daemon runs on .*has exited/),
  });
  expect(heard).toEqual([]);
});

it('given the URL, the CLI goes there (the user chose it), and says with a code that no daemon answered', async () => {
  const { port } = server.address() as { port: number };
  const url = `ws://127.0.0.1:${port}`;
  const r = await run(process.execPath, [CLI, 'daemon', 'status', '--json', '--data-dir', dataDir, '--url', url], {
    timeout: 15_000,
  }).catch((e: { code: number; stdout: string; stderr: string }) => e);
  expect(heard[0]).toBe('connection');
  // What answered is no daemon: said with a code, never a stack.
  expect((r as { code: number }).code).toBe(1);
  expect(JSON.parse((r as { stdout: string }).stdout)).toMatchObject({
    error: { code: 'E_CONNECTION', message: expect.stringContaining('did not answer as a corepool daemon') },
  });
  expect((r as { stderr: string }).stderr).not.toMatch(/\n\s+at /);
});

it('a live daemon recorded in the data dir is found as before', async () => {
  await using d = await startDaemon({ workers: 1 });
  const c = await connect({ dataDir: d.dataDir });
  expect(await c.submit((x: number) => x + 1, 1)).toBe(2);
  await c.close();
  const { stdout } = await run(process.execPath, [CLI, 'daemon', 'status', '--json', '--data-dir', d.dataDir]);
  expect(JSON.parse(stdout)).toMatchObject({ workers: expect.any(Array) });
});

it(
  'after its daemon dies, a client reconnecting to the port it left sends the token to no one else there',
  { timeout: 60_000 },
  async () => {
    const d = await startDaemon({ workers: 1 });
    const c = await connect({ dataDir: d.dataDir, reconnectTimeoutMs: 30_000 });
    try {
      expect(await c.value<number>('n', { initial: 0 }).add(1)).toBe(1);
      await d.kill();
      // Someone else takes the port the dead daemon listened on.
      const taker = new WebSocketServer({ host: '127.0.0.1', port: d.port });
      const got: string[] = [];
      taker.on('connection', (ws) => {
        got.push('connection');
        ws.on('message', (m) => got.push(String(m)));
      });
      await new Promise((r) => taker.once('listening', r));
      try {
        for (let i = 0; i < 200 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
        expect(got[0]).toBe('connection');
        await new Promise((r) => setTimeout(r, 300));
        expect(got.filter((g) => g !== 'connection')).toEqual([]);
      } finally {
        await new Promise((r) => taker.close(r));
      }
    } finally {
      await c.close();
      await d[Symbol.asyncDispose]();
    }
  },
);
