import { cli, desc } from './h.mjs';
import vm from 'node:vm';
const c = await cli();
for (const src of ['new Date(0)', 'new Map([[1, 2]])', 'new Set([1])', '/x/g', 'new TypeError("t")', 'new Error("e")', 'new Float64Array([1.5])', '1n', '({ e: new Error("nested") })']) {
  const v = vm.runInNewContext(src);
  try { const [r] = await c.map(x => x, [v]); console.log(src.padEnd(28), '->', r, '| structuredClone gives', structuredClone(v)); } catch (e) { console.log(src.padEnd(28), 'ERR', desc(e)); }
}
await c.close();
