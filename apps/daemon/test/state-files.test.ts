/**
 * The state files on disk: who may read them, and what a daemon does when
 * they are damaged. The state dir is 0700 and data.mdb / lock.mdb are 0600
 * whatever the data dir's mode and the umask; a damaged or truncated data.mdb
 * makes `daemon start` refuse (exit 1, a message naming the file and what to
 * do) instead of crashing natively or starting empty, and leaves it untouched.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, cpSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CLI, startDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';

const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);

describe('state file modes', () => {
  let dataDir: string;
  let umask: number;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'corepool-modes-'));
    chmodSync(dataDir, 0o755);
    umask = process.umask(0);
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('state/ is 0700 and data.mdb, lock.mdb 0600 under a 0755 data dir and umask 0; wider modes left by an older version are narrowed', async () => {
    {
      await using d = await startDaemon({ workers: 1, dataDir, keepDataDir: true });
      const c = await d.connect();
      await c.value('x').set(1);
      expect(mode(join(dataDir, 'state'))).toBe('700');
      expect(mode(join(dataDir, 'state', 'data.mdb'))).toBe('600');
      expect(mode(join(dataDir, 'state', 'lock.mdb'))).toBe('600');
    }
    chmodSync(join(dataDir, 'state'), 0o755);
    chmodSync(join(dataDir, 'state', 'data.mdb'), 0o644);
    chmodSync(join(dataDir, 'state', 'lock.mdb'), 0o666);
    await using d = await startDaemon({ workers: 1, dataDir, keepDataDir: true });
    expect(await (await d.connect()).value('x').get()).toBe(1);
    expect(mode(join(dataDir, 'state'))).toBe('700');
    expect(mode(join(dataDir, 'state', 'data.mdb'))).toBe('600');
    expect(mode(join(dataDir, 'state', 'lock.mdb'))).toBe('600');
  });
});

/** Writes `bytes` into `file` at `pos`. */
function poke(file: string, pos: number, bytes: number[]): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from(bytes), 0, bytes.length, pos);
  closeSync(fd);
}

/** The newer of the two meta pages (LMDB opens at the newer commit), and the page size. */
function newerMeta(file: string): { at: number; pageSize: number; mainRoot: number } {
  const b = readFileSync(file);
  const pageSize = b.readUInt32LE(48);
  const at = b.readBigUInt64LE(pageSize + 152) > b.readBigUInt64LE(152) ? pageSize : 0;
  return { at, pageSize, mainRoot: Number(b.readBigUInt64LE(at + 136)) };
}

describe('a damaged data.mdb', () => {
  let healthy: string;
  let dataDir: string;
  const file = (): string => join(dataDir, 'state', 'data.mdb');
  const sha = (): string => createHash('sha256').update(readFileSync(file())).digest('hex');

  beforeEach(async () => {
    // A real store with values, queue items and a dict spread over many pages, closed cleanly.
    healthy = mkdtempSync(join(tmpdir(), 'corepool-damage-src-'));
    {
      await using d = await startDaemon({ workers: 1, dataDir: healthy, keepDataDir: true });
      const c = await d.connect();
      const dict = c.dict<string>('d');
      await Promise.all(Array.from({ length: 2000 }, (_, i) => dict.set(`k${i}`, `v${i}`.repeat(20))));
      await Promise.all(Array.from({ length: 200 }, (_, i) => c.queue('q').put(i)));
      await c.value('n').set(42);
    }
    dataDir = mkdtempSync(join(tmpdir(), 'corepool-damage-'));
    cpSync(join(healthy, 'state'), join(dataDir, 'state'), { recursive: true });
  }, 60_000);
  afterEach(() => {
    rmSync(healthy, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** `daemon start` on the damaged copy: refused with exit 1 (no signal), naming the file, the file untouched. */
  function expectRefusal(): void {
    const before = sha();
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [CLI, 'daemon', 'start', '--port', '0', '--workers', '1', '--data-dir', dataDir], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' },
    });
    figure('damaged.refusalMs', Math.round(performance.now() - t0));
    expect(r.signal).toBe(null);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(file());
    expect(r.stdout).not.toContain('"event":"listening"');
    expect(sha()).toBe(before);
  }

  it('truncated to 0 bytes: refused, never started empty', () => {
    truncateSync(file(), 0);
    expectRefusal();
  });

  it('truncated to half: refused', () => {
    truncateSync(file(), Math.floor(statSync(file()).size / 2 / 4096) * 4096);
    expectRefusal();
  });

  it('bytes flipped in a meta page: refused', () => {
    poke(file(), 24, [0x01, 0x02, 0x03, 0x04]); // meta page 0's magic number
    expectRefusal();
  });

  it('the newer meta page points past the file: refused', () => {
    const { at } = newerMeta(file());
    poke(file(), at + 136, [0xff, 0xff, 0xff, 0x00]); // the main tree's root page number
    expectRefusal();
  });

  it("bytes flipped in a data page in the middle (the main tree's root): refused", () => {
    const { pageSize, mainRoot } = newerMeta(file());
    poke(file(), mainRoot * pageSize + 16, [0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5]);
    expectRefusal();
  });

  it('a healthy copy starts, with its data', async () => {
    const t0 = performance.now();
    await using d = await startDaemon({ workers: 1, dataDir, keepDataDir: true });
    figure('healthy.startMs', Math.round(performance.now() - t0));
    const c = await d.connect();
    expect(await c.value('n').get()).toBe(42);
    expect(await c.queue('q').size()).toBe(200);
    expect(await c.dict('d').size()).toBe(2000);
  });
});
