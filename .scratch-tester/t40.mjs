import { cli } from './h.mjs';
import vm from 'node:vm';
const c = await cli();
const m = vm.runInNewContext('new Map([["k", 1]])');
await c.value('vm-map').set(m);
console.log('stored Map came back as', await c.value('vm-map').get());
console.log('task result from a vm context:', await c.map(() => require('node:vm').runInNewContext('new Map([["k", 1]])'), [0]));
await c.close();
