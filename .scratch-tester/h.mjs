import { connect } from '@corepool/client';
import fs from 'node:fs';
const line = fs.readFileSync(new URL('./d1.out', import.meta.url), 'utf8').split('\n').find(l => l.includes('"listening"'));
const info = JSON.parse(line);
export async function cli(opts = {}) { return connect(info.url, { dataDir: info.dataDir, ...opts }); }
export function timeout(p, ms, label='') { return Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('HANG ' + label)), ms))]); }
export function desc(e) { return e && typeof e === 'object' ? `${e.constructor?.name} code=${e.code} msg=${String(e.message).slice(0,200)}` : `non-error ${String(e)}`; }
process.on('unhandledRejection', (e) => console.log('UNHANDLED REJECTION', desc(e)));
process.on('uncaughtException', (e) => console.log('UNCAUGHT', desc(e)));
