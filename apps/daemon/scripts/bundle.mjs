// bundle.mjs - bundles what `corepool` runs into bundle/, beside dist/: the
// CLI and the primary (split: what only some commands or only cluster mode use
// loads on demand), the worker (one file: each worker is on the start's
// critical path), and the process-watch thread. Loading ~200 ES and CommonJS
// modules one by one was most of a daemon's start CPU (Node 20 has no compile
// cache). dist/ (tsc) stays for the tests' own imports; bin/corepool.js runs
// the bundle.
//
// The worker and the thread are CommonJS files (their folders' package.json
// says so, under the same names as in dist/). Started from an ES module, a
// process also loads Node's ES module loader, and its `import` of a builtin
// builds the builtin's whole ES facade, reading every lazy export: node:fs's
// `promises` pulls in fs/promises and readline. Measured over 15 interleaved
// starts of 2 workers: the workers' CPU by `listening` 390 -> 360 ms, the
// start 446 -> 428 ms. import() of a module task works the same from either.
//
// Native and optional packages stay external: they find their binaries from
// their own files. lmdb and msgpackr stay external too and load through
// require: their CommonJS builds are one file each where their ES builds are
// trees of modules, and the protocol and lmdb then share one msgpackr.
//
// Each of our modules' import.meta.url is rewritten to the URL its file would
// have in bundle/ laid out as dist/ (bundle/primary/supervisor.js, ...), so
// every path resolved from it (package.json, dashboard/, the worker's and the
// thread's entry, lmdb for the store check, the CLI itself for --detach) names
// the same file as from dist/, or the bundle's entry of that name.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync as existsSyncHere, readFileSync as readFileSyncHere } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const APP = fileURLToPath(new URL('..', import.meta.url));
const SRC = `${APP}src/`;
const OUT = `${APP}bundle/`;
const requireHere = createRequire(`${APP}package.json`);
/** The protocol's libc hint (its libc-hint.ts), which the stand-ins for msgpackr and lmdb load them through. */
const LIBC_HINT = `${dirname(requireHere.resolve('@corepool/protocol/internal'))}/libc-hint.js`;

/** Found at run time from node_modules: native code, or optional packages (ws's) a bundle cannot hold. */
const EXTERNAL = ['msgpackr-extract', 'bufferutil', 'utf-8-validate'];
/** Loaded with require, from node_modules. */
const VIA_REQUIRE = ['lmdb', 'msgpackr'];

const ROOT_MARK = '__COREPOOL_BUNDLE_ROOT__';
// Each output file starts with these lines. __corepoolRoot is the bundle's root from wherever the file
// sits in it (the mark is replaced per file below). The CommonJS packages inside call require and may
// read __dirname (ioredis, to trim its stack traces): an ES module has neither.
const BANNER = [
  `import { createRequire as __corepoolCreateRequire } from 'node:module';`,
  `import { fileURLToPath as __corepoolFileURLToPath } from 'node:url';`,
  `const __corepoolRoot = new URL('${ROOT_MARK}', import.meta.url);`,
  `const require = __corepoolCreateRequire(import.meta.url);`,
  `const __corepoolDirname = __corepoolFileURLToPath(new URL('.', import.meta.url));`,
].join('\n');

/** The same names for a CommonJS file, which has __dirname and require of its own. */
const CJS_BANNER = [
  // First, or it is no directive: the banner comes before esbuild's own "use strict".
  `"use strict";`,
  `const __corepoolRoot = require('node:url').pathToFileURL(require('node:path').join(__dirname, '${ROOT_MARK}'));`,
  `const __corepoolDirname = __dirname;`,
].join('\n');

/** Our modules: import.meta.url becomes the URL of the module's own file as laid out in bundle/. */
const ownUrls = {
  name: 'corepool-own-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (!args.path.startsWith(SRC)) return undefined;
      const own = relative(SRC, args.path).replace(/\.ts$/, '.js');
      const source = await readFile(args.path, 'utf8');
      return { contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(own)}, __corepoolRoot).href`), loader: 'ts' };
    });
  },
};

/**
 * The protocol's codec loads msgpackr when it first needs it, through load-msgpackr.js, which resolves it
 * from import.meta.url: bundled, that is a plain require (which viaRequire makes external); the CommonJS
 * worker file has no import.meta.
 */
const msgpackrLoader = {
  name: 'corepool-msgpackr-loader',
  setup(b) {
    // A plain require: its via-require stand-in loads msgpackr through the libc hint.
    b.onLoad({ filter: /[\\/]protocol[\\/]dist[\\/]load-msgpackr\.js$/ }, () => ({
      contents: `export function loadMsgpackr() { return require('msgpackr'); }`,
      loader: 'js',
    }));
  },
};

/** `import ... from 'lmdb'` becomes require('lmdb'): a CommonJS stand-in that requires the external package. */
const viaRequire = {
  name: 'corepool-via-require',
  setup(b) {
    const filter = new RegExp(`^(${VIA_REQUIRE.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === 'via-require' ? { path: args.path, external: true } : { path: args.path, namespace: 'via-require' },
    );
    // Through the libc hint (protocol's libc-hint.ts): lmdb's native part loads as msgpackr's does.
    b.onLoad({ filter: /.*/, namespace: 'via-require' }, (args) => ({
      contents: `const { withLibcHint } = require(${JSON.stringify(LIBC_HINT)});\nmodule.exports = withLibcHint(() => require(${JSON.stringify(args.path)}));`,
      resolveDir: dirname(LIBC_HINT),
      loader: 'js',
    }));
  },
};

/**
 * `await import('prom-client')`: a CommonJS package imported dynamically becomes a chunk whose only export
 * is `default` when the bundle is split, where Node gives its named exports too (and `export *` from it
 * names nothing). Through an ES module that re-exports each of its exports by name, as read here at build
 * time, the names are there.
 */
const dynamicCommonJs = {
  name: 'corepool-dynamic-commonjs',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.kind === 'dynamic-import' && !args.path.startsWith('node:') && !hasEsBuild(args.path)
        ? { path: args.path, namespace: 'reexport' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'reexport' }, (args) => {
      const names = Object.keys(requireHere(args.path)).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== 'default');
      const from = JSON.stringify(args.path);
      return {
        contents: `import m from ${from};\nexport default m;\nexport const { ${names.join(', ')} } = m;`,
        loader: 'js',
        resolveDir: APP,
      };
    });
  },
};

/** A package that ships an ES module build (rotating-file-stream): esbuild bundles that, exports and all. */
function hasEsBuild(name) {
  // Its package.json may not be exported: found where require would look for the package.
  const dir = requireHere.resolve.paths(name).find((d) => existsSyncHere(`${d}/${name}/package.json`));
  const pkg = JSON.parse(readFileSyncHere(`${dir}/${name}/package.json`, 'utf8'));
  return pkg.type === 'module' || pkg.module !== undefined || JSON.stringify(pkg.exports ?? {}).includes('"import"');
}

/** One esbuild run over `entryPoints` (named as their dist/ files), written into bundle/ as `format` files. */
async function bundle(entryPoints, splitting, format) {
  const result = await build({
    absWorkingDir: APP,
    entryPoints,
    outdir: OUT,
    bundle: true,
    splitting,
    chunkNames: 'chunks/[name]-[hash]',
    format,
    platform: 'node',
    target: 'node20',
    external: EXTERNAL,
    banner: { js: format === 'esm' ? BANNER : CJS_BANNER },
    // Only where a CommonJS package reads the free variable; a module's own __dirname is its own.
    define: { __dirname: '__corepoolDirname' },
    plugins: [ownUrls, msgpackrLoader, viaRequire, dynamicCommonJs],
    legalComments: 'none',
    write: false,
    logLevel: 'warning',
  });
  for (const file of result.outputFiles) {
    const root = relative(dirname(file.path), OUT) || '.';
    await mkdir(dirname(file.path), { recursive: true });
    await writeFile(file.path, file.text.replace(ROOT_MARK, `${root}/`));
  }
}

await rm(OUT, { recursive: true, force: true });
await bundle({ cli: 'src/cli.ts' }, true, 'esm');
for (const [name, src] of [
  ['worker/main', 'src/worker/main.ts'],
  ['primary/process-watch-thread', 'src/primary/process-watch-thread.ts'],
]) {
  await bundle({ [name]: src }, false, 'cjs');
  await writeFile(`${OUT}${dirname(name)}/package.json`, '{ "type": "commonjs" }\n');
}
