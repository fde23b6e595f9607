/**
 * The state files on disk: who may read them, and what a daemon does when
 * they are damaged. The state dir is 0700 and data.mdb / lock.mdb are 0600
 * whatever the data dir's mode and the umask; a damaged or truncated data.mdb
 * makes `daemon start` refuse (exit 1, a message naming the file and what to
 * do) instead of crashing natively or starting empty, and leaves it untouched.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startDaemon } from './fixture.js';

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
