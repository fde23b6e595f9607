import { open } from 'lmdb';
import { createHook } from 'node:async_hooks'; const stacks = new WeakMap(); createHook({ init(id, type, trig, res) { if (type === 'PROMISE') stacks.set(res, new Error().stack.split('\n').filter(l => l.includes('lmdb')).slice(0, 4).join(' | ')); } }).enable(); process.on('unhandledRejection', (r, p) => { console.log('UNHANDLED', r?.message, stacks.get(p)); });
import fs from 'node:fs';
const mode = process.argv[2];
const root = open({ path: '/tmp/state-tmpfs/db', encoding: 'binary', maxDbs: 8, overlappingSync: false, ...(mode === 'always' ? {} : { noSync: true }) });
const db = root.openDB('t', { encoding: 'binary' });
db.putSync('a', new Uint8Array([1]));
// fill the disk
const free = fs.statfsSync('/tmp/state-tmpfs'); 
fs.writeFileSync('/tmp/state-tmpfs/filler', Buffer.alloc(Number(free.bavail * free.bsize) - 4096 * 2));
console.log('free after fill', fs.statfsSync('/tmp/state-tmpfs').bavail);
const big = new Uint8Array(200_000).fill(7);
try {
  if (mode === 'always') { const p1 = db.put('b', big), p2 = db.put('c', big); console.log('same', p1 === p2, typeof p1.then); await Promise.all([p1, p2]); }
  else root.transactionSync(() => { db.putSync('b', big); db.putSync('c', big); });
  console.log('write ok?!');
} catch (e) { e.commitError?.catch((x) => console.log('commitError', x.code, x.message)); console.log('write failed:', e.code, e.message); await new Promise(r => setTimeout(r, 10)); }
console.log('read a', db.get('a'), 'b', db.get('b')?.length);
fs.rmSync('/tmp/state-tmpfs/filler');
try {
  if (mode === 'always') await db.put('d', big); else root.transactionSync(() => db.putSync('d', big));
  console.log('after free: write ok, d', db.get('d')?.length, 'b', db.get('b')?.length);
} catch (e) { e.commitError?.catch(() => {}); console.log('after free: failed', e.message); }
await root.close();
