import { cli, timeout, desc } from './h.mjs';
const c = await cli();
async function t(label, f, ms=10000) { try { const r = await timeout(f(), ms, label); console.log(label, 'OK', JSON.stringify(r)?.slice(0,150)); } catch (e) { console.log(label, 'ERR', desc(e), '| name', e?.name, '| remoteName', e?.remoteName, '| idx', e?.index, '| remoteStack', String(e?.remoteStack).split('\n').slice(0,2).join(' / ').slice(0, 120)); } }
await t('TypeError', () => c.map(x => null.x, [1]));
await t('custom class', () => c.map(x => { class MyErr extends Error { constructor(m) { super(m); this.name = 'MyErr'; this.code = 'E_MINE'; } } throw new MyErr('mine'); }, [1]));
await t('error w code E_TIMEOUT', () => c.map(x => { const e = new Error('fake'); e.code = 'E_TIMEOUT'; throw e; }, [1]));
await t('message getter throws', () => c.map(x => { const e = new Error('x'); Object.defineProperty(e, 'message', { get() { throw new Error('gotcha'); } }); throw e; }, [1]));
await t('proxy thrown', () => c.map(x => { throw new Proxy({}, { get() { throw new Error('trap'); }, getPrototypeOf() { throw new Error('trap2'); }, ownKeys() { throw new Error('trap3'); } }); }, [1]));
await t('toString throws', () => c.map(x => { throw { toString() { throw new Error('ts'); } }; }, [1]));
await t('huge message', () => c.map(x => { throw new Error('m'.repeat(20e6)); }, [1]));
await t('stack getter throws', () => c.map(x => { const e = new Error('x'); Object.defineProperty(e, 'stack', { get() { throw new Error('st'); } }); throw e; }, [1]));
await t('name getter throws', () => c.map(x => { const e = new Error('x'); Object.defineProperty(e, 'name', { get() { throw new Error('nm'); } }); throw e; }, [1]));
await t('Symbol thrown', () => c.map(x => { throw Symbol('s'); }, [1]));
await t('BigInt thrown', () => c.map(x => { throw 10n; }, [1]));
await t('reject with error-like', () => c.map(async x => { throw { message: 'plain', stack: 'fake stack' }; }, [1]));
await t('result error with getter', () => c.map(x => { const e = new Error('x'); Object.defineProperty(e, 'message', { get() { throw new Error('gotcha'); } }); return e; }, [1]));
await t('result is error w huge stack', () => c.map(x => { const e = new Error('x'); e.stack = 's'.repeat(9e6); return e; }, [1]));
await t('after', () => c.map(x => x, [1]));
await c.close();
