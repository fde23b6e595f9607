/**
 * Every refusal the CLI prints or the daemon's port answers carries its code
 * (a review found plain text): a token file that is missing or readable by
 * others, a data dir that is a file, a second daemon on a data dir whose lock
 * was removed, and the port's answers to plain HTTP (not WebSocket, a bad
 * URL, a foreign Host).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import net from 'node:net';
import { expect, it } from 'vitest';
import { CLI, startDaemon } from './support/daemon.js';

const run = promisify(execFile);

interface Failed {
  code: number;
  stdout: string;
  stderr: string;
}

async function failing(args: string[]): Promise<Failed> {
  return (await run(process.execPath, [CLI, ...args], { timeout: 20_000 }).then(
    () => ({ code: 0, stdout: '', stderr: '' }),
    (e: Failed) => e,
  )) as Failed;
}

/** A raw HTTP/1.1 request's status line and the x-corepool-error header. */
function rawHttp(port: number, request: string): Promise<{ status: string; code: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: head.split('\r\n')[0] ?? '', code: /^x-corepool-error: (\S+)/im.exec(head)?.[1], body });
    });
  });
}

it('the CLI prints a code with every refusal of its arguments', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'corepool-coded-'));
  try {
    const missing = await failing(['daemon', 'status', '--json', '--token-file', join(dir, 'none')]);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'E_BAD_ARGUMENT' } });
    const open = join(dir, 'open-token');
    writeFileSync(open, 'a-token-anyone-can-read-0123456789\n', { mode: 0o644 });
    const readable = await failing(['daemon', 'status', '--json', '--token-file', open]);
    expect(JSON.parse(readable.stdout)).toMatchObject({ error: { code: 'E_BAD_ARGUMENT', message: expect.stringContaining('chmod 600') } });
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const notDir = await failing(['daemon', 'start', '--port', '0', '--data-dir', file]);
    expect(notDir.code).toBe(1);
    expect(notDir.stderr).toMatch(/not a directory.*E_BAD_ARGUMENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it(
  'a second daemon on a data dir whose lock was removed says E_DAEMON_RUNNING; plain HTTP answers carry codes',
  { timeout: 60_000 },
  async () => {
    await using d = await startDaemon({ workers: 1 });
    rmSync(join(d.dataDir, 'daemon.lock'));
    const second = await failing(['daemon', 'start', '--port', '0', '--workers', '1', '--data-dir', d.dataDir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/already runs.*E_DAEMON_RUNNING/);

    const host = `Host: 127.0.0.1:${d.port}\r\n`;
    expect(await rawHttp(d.port, `GET /no-such-route HTTP/1.1\r\n${host}\r\n`)).toMatchObject({
      status: expect.stringContaining('426'),
      code: 'E_BAD_MESSAGE',
    });
    expect(await rawHttp(d.port, `GET /x%zz HTTP/1.1\r\n${host}\r\n`)).toMatchObject({ code: expect.stringMatching(/^E_/) });
    const foreign = await rawHttp(d.port, `GET /metrics HTTP/1.1\r\nHost: rebind.example\r\n\r\n`);
    expect(foreign).toMatchObject({ status: expect.stringContaining('403'), code: 'E_AUTH' });
    expect(foreign.body).not.toMatch(/127\.0\.0\.1 or 127\.0\.0\.1/);
  },
);
