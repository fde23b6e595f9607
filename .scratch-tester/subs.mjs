import { cli } from './h.mjs';
const N = +process.argv[2]; const cs = [];
for (let i = 0; i < N; i++) { const c = await cli({ name: 'sub' + i }); for (let k = 0; k < 1; k++) c.value('hot').subscribe(() => {}); cs.push(c); }
console.log('subscribed', N); 
setTimeout(async () => { for (const c of cs) await c.close(); process.exit(0); }, +process.argv[3]);
