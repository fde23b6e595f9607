/**
 * Loads msgpackr, resolved from this package, when the codec first needs it
 * (codec.ts says why not at import). The daemon's bundle replaces this file
 * with a plain `require('msgpackr')` (apps/daemon/scripts/bundle.mjs: its stand-in takes the same hint), where
 * there is no import.meta in its CommonJS worker file.
 */
import { createRequire } from 'node:module';

import { withLibcHint } from './libc-hint.js';

export function loadMsgpackr(): typeof import('msgpackr') {
  return withLibcHint(() => createRequire(import.meta.url)('msgpackr') as typeof import('msgpackr'));
}
