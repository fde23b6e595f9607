/**
 * `daemon start --detach` whose daemon fails to start prints why (what the
 * daemon logged as it failed), not only where its log is.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI } from './support/daemon.js';

const run = promisify(execFile);

describe('daemon start --detach that fails', () => {
  it('prints the reason the daemon gave', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'corepool-detach-'));
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const err = (await run(process.execPath, [CLI, 'daemon', 'start', '--detach', '--data-dir', dataDir, '--port', String(port)]).catch(
        (e: unknown) => e,
      )) as { code: number; stderr: string };
      expect(err.code).toBe(1);
      expect(err.stderr).toMatch(/the daemon did not start: .*EADDRINUSE/);
      expect(err.stderr).toContain(join(dataDir, 'daemon.log'));
    } finally {
      taken.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
