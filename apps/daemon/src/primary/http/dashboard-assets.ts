/**
 * dashboard-assets.ts - the dashboard's files: its pages, script and style
 * (apps/daemon/dashboard/, shipped in the package beside dist/) and uPlot's
 * (read from the uplot package wherever Node resolves it, so an installed
 * daemon serves them as the monorepo does). Each is read once, on first use.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
/** From src/primary/http or dist/primary/http alike. */
const dir = (file: string): string => fileURLToPath(new URL(`../../../dashboard/${file}`, import.meta.url));

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const HTML = 'text/html; charset=utf-8';

/** Served path (or page name) -> [file, content type]. */
const FILES = new Map<string, [() => string, string]>(
  Object.entries({
    'index.html': [() => dir('index.html'), HTML],
    'login.html': [() => dir('login.html'), HTML],
    '/assets/dashboard.js': [() => dir('dashboard.js'), JS],
    '/assets/dashboard.css': [() => dir('dashboard.css'), CSS],
    '/assets/uplot.js': [() => require.resolve('uplot/dist/uPlot.iife.min.js'), JS],
    '/assets/uplot.css': [() => require.resolve('uplot/dist/uPlot.min.css'), CSS],
  } satisfies Record<string, [() => string, string]>),
);

export interface Asset {
  body: Buffer;
  type: string;
}

const cache = new Map<string, Asset>();

/** The asset served at `path` (or the page named so), undefined when there is none. */
export function asset(path: string): Asset | undefined {
  const hit = cache.get(path);
  if (hit !== undefined) return hit;
  const f = FILES.get(path);
  if (f === undefined) return undefined;
  const a = { body: readFileSync(f[0]()), type: f[1] };
  cache.set(path, a);
  return a;
}
