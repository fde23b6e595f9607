/** Daemon URLs: one or a list, from connect() or COREPOOL_URL, each checked with a coded error saying where it came from. */
import { describe, expect, it } from 'vitest';
import { daemonUrls, envUrls, isLocalUrl } from '../src/daemon-urls.js';

const bad = expect.objectContaining({ code: 'E_BAD_ARGUMENT' });

describe('daemon URLs', () => {
  it('takes one URL or a list, trimmed; a URL given twice is kept once, in its first place', () => {
    expect(daemonUrls('ws://127.0.0.1:7420')).toEqual(['ws://127.0.0.1:7420']);
    expect(daemonUrls([' ws://a:1', 'wss://b:2', 'ws://a:1/', 'ws://c:3'])).toEqual(['ws://a:1', 'wss://b:2', 'ws://c:3']);
  });

  it('refuses an empty list, a non-ws URL, a non-string and a URL without a host, naming the entry', () => {
    expect(() => daemonUrls([])).toThrow(bad);
    expect(() => daemonUrls(['ws://a:1', 'http://b:2'])).toThrow(/url\[1\] must start with ws:\/\/ or wss:\/\//);
    expect(() => daemonUrls(['ws://a:1', 7])).toThrow(/url\[1\] must be a string/);
    expect(() => daemonUrls(['ws://'])).toThrow(bad);
    expect(() => daemonUrls({ url: 'ws://a:1' })).toThrow(bad);
    expect(() => daemonUrls('127.0.0.1:7420')).toThrow(bad);
  });

  it('COREPOOL_URL: comma-separated, spaces tolerated, empty entries skipped; errors name the variable', () => {
    expect(envUrls('ws://a:1')).toEqual(['ws://a:1']);
    expect(envUrls(' ws://a:1 ,ws://b:2,, ')).toEqual(['ws://a:1', 'ws://b:2']);
    expect(() => envUrls(' , ')).toThrow(/COREPOOL_URL lists no daemon URL/);
    expect(() => envUrls('ws://a:1,b:2')).toThrow(/COREPOOL_URL\[1\]/);
  });

  it('knows the addresses of this machine a spawned daemon answers on', () => {
    for (const u of ['ws://127.0.0.1:7420', 'ws://localhost:1', 'ws://[::1]:7420', 'ws://127.1.2.3:9']) expect(isLocalUrl(u)).toBe(true);
    for (const u of ['ws://10.0.0.1:7420', 'ws://example.com:7420', 'ws://[fe80::1]:1']) expect(isLocalUrl(u)).toBe(false);
  });
});
