import { cli } from './h.mjs';
const c = await cli();
const tag = process.argv[2];
c.dict(tag + 'a').subscribe((k, v, del) => console.log(`dict "a" heard key ${JSON.stringify(k)} = ${v}`));
c.dict(tag + 'a\0b').subscribe((k, v, del) => console.log(`dict "a\\0b" heard key ${JSON.stringify(k)} = ${v}`));
c.value(tag + 'big').subscribe((v) => {});
setTimeout(() => { console.log('sub exiting'); c.close(); }, 15000);
console.log('ready');
