#!/usr/bin/env node
// The `corepool` command. A committed shim so that npm links the bin at install time,
// before the build has produced bundle/ (the CLI bundled: scripts/bundle.mjs says why).
import { existsSync } from 'node:fs';

const cli = new URL('../bundle/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('corepool: the daemon is not built yet; run `npm run build` (or `npm run demo`) first');
  process.exit(1);
}
await import(cli.href);
