import { cli, desc } from './h.mjs';
import vm from 'node:vm';
const c = await cli();
const items = { 'vm obj': vm.runInNewContext('({ a: 1, d: new Date(0), m: new Map([[1, 2]]), arr: [1, 2], u8: new Uint8Array([1]) })'), 'vm array': vm.runInNewContext('[1, 2]'), 'vm Error': vm.runInNewContext('new TypeError("t")'), 'vm null-proto': vm.runInNewContext('Object.create(null)') };
for (const [k, v] of Object.entries(items)) { try { console.log(k, await c.map(x => x, [v])); } catch (e) { console.log(k, 'ERR', desc(e)); } }
try { console.log('value.set vm obj', await c.value('vmv').set(items['vm obj'])); } catch (e) { console.log('value.set vm', desc(e)); }
await c.close();
