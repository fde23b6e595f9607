/**
 * The packages as a user gets them: each workspace packed with `npm pack`,
 * the tarballs installed into an empty project outside the monorepo, then an
 * app that imports the SDK compiles with tsc (strict) and runs a map on a daemon it
 * spawns through the installed `corepool` command. Also what a tarball must
 * hold (LICENSE, README, engines, the sources its maps name) and what an app
 * without the daemon package hears from `spawn: true`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './support/ports.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const WORKSPACES = ['@corepool/protocol', '@corepool/client', '@corepool/daemon'];
const require = createRequire(join(repo, 'package.json'));
/** The monorepo's own TypeScript and Node types, so the app is checked with the versions the packages are built with. */
const devVersions = {
  typescript: (JSON.parse(readFileSync(require.resolve('typescript/package.json'), 'utf8')) as { version: string }).version,
  '@types/node': (JSON.parse(readFileSync(require.resolve('@types/node/package.json'), 'utf8')) as { version: string }).version,
};

let dir: string;
const tarballs = new Map<string, string>();
/** Each tarball's file list, from `npm pack --json`. */
const contents = new Map<string, { files: { path: string }[] }>();

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    // npm may reach the registry over TLS: it gets the certificates the runner's processes go without (vitest.config.ts).
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: process.env.COREPOOL_TEST_EXTRA_CA_CERTS,
      npm_config_workspaces: undefined,
      npm_config_workspace: undefined,
    } as NodeJS.ProcessEnv,
  });
  return stdout;
}

function project(name: string, deps: string[]): string {
  const at = join(dir, name);
  mkdirSync(at);
  const dependencies = Object.fromEntries(deps.map((d) => [d, `file:${tarballs.get(d)}`]));
  writeFileSync(
    join(at, 'package.json'),
    JSON.stringify({ name, private: true, type: 'module', dependencies, devDependencies: devVersions }),
  );
  return at;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'corepool-pack-'));
  const packs = join(dir, 'packs');
  mkdirSync(packs);
  // One npm for the three (2.3 s against 4.0 for one each); each entry names its package.
  const infos = JSON.parse(await npm(['pack', '--json', '--pack-destination', packs, ...WORKSPACES.flatMap((w) => ['-w', w])], repo)) as {
    name: string;
    filename: string;
    files: { path: string }[];
  }[];
  for (const info of infos) {
    tarballs.set(info.name, join(packs, info.filename));
    contents.set(info.name, info);
  }
  expect([...tarballs.keys()].sort()).toEqual([...WORKSPACES].sort());
}, 180_000);

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('the packed tarballs', () => {
  it('each holds its LICENSE, README, package.json with engines, and the sources its source maps name', () => {
    for (const w of WORKSPACES) {
      const files = new Set(contents.get(w)!.files.map((f) => f.path));
      expect(files, w).toContain('LICENSE');
      expect(files, w).toContain('README.md');
      expect(
        [...files].some((f) => f.startsWith('test/')),
        `${w} ships no tests`,
      ).toBe(false);
      const pkg = JSON.parse(
        readFileSync(join(repo, w === '@corepool/daemon' ? 'apps/daemon' : `packages/${w.split('/')[1]}`, 'package.json'), 'utf8'),
      ) as {
        engines?: { node?: string };
        license?: string;
      };
      expect(pkg.engines?.node, w).toMatch(/^>=20/);
      expect(pkg.license, w).toBe('MIT');
      for (const map of [...files].filter((f) => f.endsWith('.js.map'))) {
        const pkgDir = w === '@corepool/daemon' ? 'apps/daemon' : `packages/${w.split('/')[1]}`;
        const { sources } = JSON.parse(readFileSync(join(repo, pkgDir, map), 'utf8')) as { sources: string[] };
        for (const s of sources) expect(files, `${w}: ${map} names ${s}`).toContain(join(dirname(map), s));
      }
    }
  });
});

describe('installed into an app outside the monorepo', () => {
  it('type-checks strict, spawns the daemon through the installed command and runs a map', async () => {
    const app = project('app', WORKSPACES);
    await npm(['install'], app);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          outDir: 'out',
          types: ['node'],
        },
        include: ['main.ts'],
      }),
    );
    const dataDir = join(dir, 'data');
    writeFileSync(
      join(app, 'main.ts'),
      [
        "import { connect, type Client, type DaemonStatus } from '@corepool/client';",
        `const port = ${await freePort()};`,
        `const client: Client = await connect(\`ws://127.0.0.1:\${port}\`, { spawn: true, dataDir: ${JSON.stringify(dataDir)} });`,
        'const squares: number[] = await client.map((x: number) => x * x, [1, 2, 3]);',
        'const status: DaemonStatus = await client.status();',
        // The dashboard's files (its own and uPlot's) are found from the installed package too.
        "const dashboard = await Promise.all(['/login', '/assets/dashboard.js', '/assets/uplot.js'].map(async (p) => (await fetch(`http://127.0.0.1:${port}${p}`)).status));",
        'console.log(JSON.stringify({ squares, workers: status.workers.length, dashboard }));',
        'await client.close();',
      ].join('\n'),
    );
    await run(join(app, 'node_modules', '.bin', 'tsc'), ['-p', app], { cwd: app });
    try {
      const { stdout } = await run(process.execPath, ['out/main.js'], { cwd: app, timeout: 60_000 });
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ squares: [1, 4, 9], dashboard: [200, 200, 200] });
    } finally {
      await run(join(app, 'node_modules', '.bin', 'corepool'), ['daemon', 'stop', '--data-dir', dataDir], { cwd: app }).catch(() => {});
    }
  }, 240_000);

  it('without the daemon package, spawn: true fails at once saying what to install', async () => {
    const app = project('sdk-only', ['@corepool/protocol', '@corepool/client']);
    await npm(['install', '--omit=dev'], app);
    const script = [
      "import { connect } from '@corepool/client';",
      'const t0 = Date.now();',
      `try { await connect('ws://127.0.0.1:${await freePort()}', { spawn: true, dataDir: ${JSON.stringify(join(dir, 'nodaemon'))}, connectTimeoutMs: 20000 }); console.log('connected'); }`,
      'catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, ms: Date.now() - t0 })); }',
    ].join('\n');
    writeFileSync(join(app, 'main.mjs'), script);
    // No `corepool` on PATH either: only node itself.
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: app, env: { PATH: dirname(process.execPath), HOME: dir } });
    const out = JSON.parse(stdout.trim()) as { code: string; message: string; ms: number };
    expect(out.code).toBe('E_CONNECTION');
    expect(out.message).toMatch(/npm install @corepool\/daemon/);
    expect(out.ms).toBeLessThan(15_000);
  }, 240_000);
});
