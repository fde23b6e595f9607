/**
 * `corepool state ls|get|rm` against a real daemon: listing with --kind and
 * --limit, showing each kind, deleting with --yes (and without it off a
 * terminal: a script's rm), with or without --kind, and coded errors for bad inputs, a wrong token and no token.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';

import { CLI, useDaemon, type TestDaemon } from './support/daemon.js';
import { codeOf } from './support/checks.js';
import { until } from './support/wait.js';

const exec = promisify(execFile);

describe('corepool state', () => {
  let d: TestDaemon;
  let client: Client;
  useDaemon((x) => ({ d, client } = x), { workers: 1 });

  /** Runs the CLI against the daemon (by --data-dir, as a user on the machine would); stdout, stderr and exit code. */
  const cli = async (...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> => {
    const r = await exec(process.execPath, [CLI, 'state', ...args], {
      env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' },
    }).then(
      (x) => ({ ...x, code: 0 }),
      (e: { stdout: string; stderr: string; code: number }) => e,
    );
    return { stdout: r.stdout, stderr: r.stderr, code: r.code };
  };
  const json = async (...args: string[]): Promise<unknown> => JSON.parse((await cli(...args, '--json', '--data-dir', d.dataDir)).stdout);
  const errorCode = async (...args: string[]): Promise<string | undefined> =>
    ((await json(...args)) as { error?: { code?: string } }).error?.code;

  it('ls lists names with kinds, filtered by --kind and bounded by --limit', async () => {
    await client.value<number>('cli-v').set(5);
    await client.value<Map<string, bigint>>('cli-m').set(new Map([['a', 2n]]));
    await client.queue<number>('cli-q').put(1);
    await client.queue<number>('cli-q').put(2);
    await client.dict<number>('cli-d').set('k', 1);
    const all = (await json('ls')) as { entries: { kind: string; name: string; size?: number }[]; more: boolean };
    expect(all.more).toBe(false);
    expect(all.entries.map((e) => `${e.kind}:${e.name}`).sort()).toEqual(['dict:cli-d', 'queue:cli-q', 'value:cli-m', 'value:cli-v']);
    expect(all.entries.find((e) => e.name === 'cli-q')?.size).toBe(2);
    const values = (await json('ls', '--kind', 'value')) as { entries: { name: string }[] };
    expect(values.entries.map((e) => e.name).sort()).toEqual(['cli-m', 'cli-v']);
    const one = (await json('ls', '--limit', '1')) as { entries: unknown[]; more: boolean };
    expect(one.entries.length).toBe(1);
    expect(one.more).toBe(true);
    const text = await cli('ls', '--data-dir', d.dataDir);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/queue\s+"cli-q"\s+2 items/);
    // A kind with no names says which kind it looked for, not that there is no state at all.
    expect((await cli('ls', '--kind', 'lock', '--data-dir', d.dataDir)).stdout.trim()).toBe('(no lock in the shared state)');
  });

  it('get shows a value, a dict and a queue size; every kind by the name without --kind', async () => {
    await client.value<number>('cli-g').set(41);
    await client.value<number>('cli-g').set(42);
    expect(await json('get', 'cli-g', '--kind', 'value')).toEqual({ kind: 'value', name: 'cli-g', version: 2, value: 42 });
    await client.dict<number>('cli-gd').set('x', 1);
    expect(await json('get', 'cli-gd', '--kind', 'dict')).toEqual({ kind: 'dict', name: 'cli-gd', size: 1, entries: { x: 1 } });
    for (let i = 0; i < 5; i++) await client.dict<number>('cli-big').set(`k${i}`, i);
    expect(await json('get', 'cli-big', '--kind', 'dict', '--limit', '2')).toEqual({
      kind: 'dict',
      name: 'cli-big',
      size: 5,
      entries: { k0: 0, k1: 1 },
      more: 3,
    });
    await client.queue<number>('cli-g').put(1);
    expect(await json('get', 'cli-g')).toEqual([
      { kind: 'value', name: 'cli-g', version: 2, value: 42 },
      { kind: 'queue', name: 'cli-g', size: 1 },
    ]);
    expect(await json('get', 'cli-m', '--kind', 'value')).toMatchObject({ value: { a: '2' } });
    const text = await cli('get', 'cli-g', '--kind', 'value', '--data-dir', d.dataDir);
    expect(text.stdout).toContain('42');
    expect(await errorCode('get', 'cli-none')).toBe('E_NO_SUCH_VALUE');
  });

  it('rm deletes with --yes, and says when there was nothing; subscribers hear it', async () => {
    await client.value<number>('cli-rm').set(1);
    const heard: string[] = [];
    const stop = client.value<number>('cli-rm').subscribe(
      () => {},
      undefined,
      () => heard.push('deleted'),
    );
    // A request behind the subscribe on its link: once answered, the subscription is in place.
    await client.value('cli-rm').get();
    expect(await json('rm', 'cli-rm', '--kind', 'value', '--yes')).toEqual({ kind: 'value', name: 'cli-rm', deleted: true });
    expect(await codeOf(client.value('cli-rm').get())).toBe('E_NO_SUCH_VALUE');
    expect(await json('rm', 'cli-rm', '--kind', 'value', '--yes')).toMatchObject({ deleted: false });
    await client.dict<number>('cli-rmd').set('a', 1);
    const text = await cli('rm', 'cli-rmd', '--kind', 'dict', '--yes', '--data-dir', d.dataDir);
    expect(text.stdout).toContain('deleted dict "cli-rmd"');
    expect(await client.dict('cli-rmd').size()).toBe(0);
    await until(() => heard.length > 0, 10_000, 'the delete pushed');
    expect(heard).toEqual(['deleted']);
    stop();
    // Off a terminal, rm without --yes is a script's `state rm NAME`: nobody to ask, it deletes.
    await client.queue<number>('cli-rmq').put(1);
    expect(await json('rm', 'cli-rmq', '--kind', 'queue')).toEqual({ kind: 'queue', name: 'cli-rmq', deleted: true });
    expect(await client.queue('cli-rmq').size()).toBe(0);
  });

  it('rm NAME without --kind deletes the one kind by that name, and asks for --kind when several share it', async () => {
    await client.value<number>('cli-nk-v').set(1);
    await client.queue<number>('cli-nk-q').put(1);
    await client.dict<number>('cli-nk-d').set('a', 1);
    expect(await json('rm', 'cli-nk-v', '--yes')).toEqual({ kind: 'value', name: 'cli-nk-v', deleted: true });
    expect(await codeOf(client.value('cli-nk-v').get())).toBe('E_NO_SUCH_VALUE');
    expect(await json('rm', 'cli-nk-q', '--yes')).toEqual({ kind: 'queue', name: 'cli-nk-q', deleted: true });
    expect(await client.queue('cli-nk-q').size()).toBe(0);
    const text = await cli('rm', 'cli-nk-d', '--yes', '--data-dir', d.dataDir);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('deleted dict "cli-nk-d"');
    expect(await client.dict('cli-nk-d').size()).toBe(0);
    // Nothing by that name: nothing deleted, not an error (as with --kind).
    expect(await json('rm', 'cli-nk-none', '--yes')).toEqual({ name: 'cli-nk-none', deleted: false });
    // A value and a dict by one name: which one is not guessed.
    await client.value<number>('cli-nk-2').set(1);
    await client.dict<number>('cli-nk-2').set('a', 1);
    const both = (await json('rm', 'cli-nk-2', '--yes')) as { error: { code: string; message: string } };
    expect(both.error.code).toBe('E_BAD_ARGUMENT');
    expect(both.error.message).toContain('--kind');
    expect(await client.value('cli-nk-2').get()).toBe(1);
    expect(await client.dict('cli-nk-2').size()).toBe(1);
    // As the contract writes it, from a script (no terminal, no --yes): deleted.
    await client.value<number>('cli-nk-3').set(1);
    expect((await cli('rm', 'cli-nk-3', '--data-dir', d.dataDir)).code).toBe(0);
    expect(await codeOf(client.value('cli-nk-3').get())).toBe('E_NO_SUCH_VALUE');
  });

  it('bad inputs are refused with coded errors before anything is deleted', async () => {
    expect(await errorCode('ls', '--kind', 'file')).toBe('E_BAD_ARGUMENT');
    expect(await errorCode('ls', '--limit', '0')).toBe('E_BAD_ARGUMENT');
    expect(await errorCode('ls', '--limit', '1e3')).toBe('E_BAD_ARGUMENT');
    expect(await errorCode('ls', '--limit', '100000')).toBe('E_BAD_ARGUMENT');
    expect(await errorCode('get', '', '--kind', 'value')).toBe('E_BAD_NAME');
    expect(await errorCode('get', 'x'.repeat(300))).toBe('E_BAD_NAME');
    expect(await errorCode('rm', 'x', '--kind', 'lock', '--yes')).toBe('E_BAD_ARGUMENT');
    expect(await errorCode('rm', '', '--kind', 'value', '--yes')).toBe('E_BAD_NAME');
    // A wrong token, a data dir no daemon ran on (no token there), and an unreachable daemon: coded too.
    expect(((await json('ls', '--token', 'wrong')) as { error: { code: string } }).error.code).toBe('E_AUTH');
    const none = await cli('ls', '--json', '--data-dir', join(d.dataDir, 'nowhere'));
    expect((JSON.parse(none.stdout) as { error: { code: string } }).error.code).toBe('E_CONNECTION');
    const unreachable = await cli('ls', '--json', '--url', 'ws://127.0.0.1:1', '--token', 't');
    expect((JSON.parse(unreachable.stdout) as { error: { code: string } }).error.code).toBe('E_CONNECTION');
    // Nothing of the above deleted anything.
    expect(await client.value('cli-v').get()).toBe(5);
  });
});
