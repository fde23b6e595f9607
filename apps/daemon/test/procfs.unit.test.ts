/**
 * RssReader, the RSS watchdog's reader: it reads a live process's resident
 * memory in bytes again and again through one kept descriptor (each reading
 * fresh), as readRss does with a fresh open, and answers undefined once the
 * process is gone, never another process's figure.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { RssReader, readRss } from '../src/primary/procfs.js';

describe('RssReader', () => {
  it('reads the resident memory of a live process, fresh on every read', async () => {
    // A child of its own, which touches 64 MB when told: the test's own process is shared with other
    // files (isolate: false), whose freed pages an allocation here may reuse without growing RSS.
    const child = spawn(
      process.execPath,
      [
        '-e',
        "process.stdin.once('data', () => { globalThis.k = Buffer.alloc(64 * 2 ** 20, 1); console.log('grown'); setTimeout(() => {}, 10_000); }); console.log('ready')",
      ],
      {
        stdio: ['pipe', 'pipe', 'ignore'],
      },
    );
    try {
      await once(child, 'spawn');
      // Booted first: while Node boots its RSS grows by megabytes between two reads (10 MB once, under load).
      await once(child.stdout, 'data');
      const reader = new RssReader(child.pid!);
      const before = reader.read()!;
      const exact = readRss(child.pid!)!;
      // Same kernel counter, in pages against kB: within a few MB of each other (the process may run between the reads).
      expect(Math.abs(before - exact)).toBeLessThan(8 * 1024 * 1024);
      child.stdin.write('x');
      await once(child.stdout, 'data');
      const after = reader.read()!;
      expect(after - before).toBeGreaterThan(48 * 1024 * 1024);
      reader.close();
      expect(reader.read()).toBeUndefined();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('answers undefined once its process has exited, and for a pid that does not exist', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10_000)'], { stdio: 'ignore' });
    await once(child, 'spawn');
    const reader = new RssReader(child.pid!);
    expect(reader.read()).toBeGreaterThan(0);
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(reader.read()).toBeUndefined();
    expect(new RssReader(2 ** 22 + 12_345).read()).toBeUndefined();
  });
});
