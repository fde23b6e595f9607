/**
 * Which C library this Linux Node runs on, for the loader of msgpackr's and lmdb's native parts
 * (node-gyp-build-optional-packages), which asks detect-libc as it loads. detect-libc finds the
 * executable's ELF interpreter by reading the whole of /proc/self/exe (99 MB for Debian's node) for
 * a few bytes of its first page: 13 ms of CPU in every process that loads them, the primary, each
 * worker and each app (msgpackr loaded in 31 ms, 18 with the answer given). The same interpreter is
 * read here from the first 4 KiB, and handed over through LIBC, which that loader reads first, for
 * the time of the load only. Anything unexpected (not ELF64 little-endian, the interpreter past the
 * first page, neither name) leaves detect-libc to answer as before.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const HEAD = 4096;
const PT_INTERP = 3;

type Family = 'glibc' | 'musl' | undefined;
/** Read once: the primary loads both msgpackr and lmdb through the hint. */
let known: { family: Family } | undefined;

/** 'glibc' or 'musl' from the ELF interpreter of the running executable; undefined if it cannot tell. */
export function libcFamily(): Family {
  known ??= { family: readFamily() };
  return known.family;
}

function readFamily(): Family {
  let fd: number | undefined;
  try {
    fd = openSync('/proc/self/exe', 'r');
    const elf = Buffer.alloc(HEAD);
    const n = readSync(fd, elf, 0, HEAD, 0);
    if (n < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf.readUInt8(4) !== 2 || elf.readUInt8(5) !== 1) return undefined;
    const table = elf.readUInt32LE(32);
    const size = elf.readUInt16LE(54);
    const count = elf.readUInt16LE(56);
    for (let i = 0; i < count; i++) {
      const at = table + i * size;
      if (at + 40 > n) return undefined;
      if (elf.readUInt32LE(at) !== PT_INTERP) continue;
      const from = elf.readUInt32LE(at + 8);
      const length = elf.readUInt32LE(at + 32);
      if (from + length > n) return undefined;
      const path = elf.toString('latin1', from, from + length);
      // As detect-libc reads the same path.
      if (path.includes('/ld-musl-')) return 'musl';
      if (path.includes('/ld-linux-')) return 'glibc';
      return undefined;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Runs `load` (a require of a package with native parts) with LIBC set from libcFamily, unless it is set already. */
export function withLibcHint<T>(load: () => T): T {
  if (process.platform !== 'linux' || process.env.LIBC !== undefined) return load();
  const family = libcFamily();
  if (family === undefined) return load();
  process.env.LIBC = family;
  try {
    return load();
  } finally {
    delete process.env.LIBC;
  }
}
