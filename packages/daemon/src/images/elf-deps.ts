import { lstat, open, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';

/** What the dynamic loader needs for one ELF file: its PT_INTERP and its DT_NEEDED sonames. */
export interface ElfDeps {
  interp?: string;
  needed: string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;
const MAX_TABLE = 1 << 20; // a program header or dynamic table larger than this is not a sane ELF
const MAX_NAME = 4096;

/**
 * Reads the dependencies of a 64-bit little-endian ELF file (x86-64's kind) by reading only its headers,
 * its dynamic section and its string table; undefined when the file is not such an ELF (scripts, data).
 */
export async function readElfDeps(path: string): Promise<ElfDeps | undefined> {
  const file = await open(path, 'r');
  try {
    const read = async (offset: number | bigint, length: number | bigint): Promise<Buffer> => {
      const len = Number(length);
      if (len < 0 || len > MAX_TABLE) throw new Error(`${path}: implausible ELF table size ${len}`);
      const buf = Buffer.alloc(len);
      const { bytesRead } = await file.read(buf, 0, len, Number(offset));
      if (bytesRead !== len) throw new Error(`${path}: truncated ELF file`);
      return buf;
    };
    const head = Buffer.alloc(64);
    const { bytesRead } = await file.read(head, 0, 64, 0);
    if (bytesRead < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return undefined;
    const phoff = head.readBigUInt64LE(0x20);
    const phentsize = head.readUInt16LE(0x36);
    const phnum = head.readUInt16LE(0x38);
    const phdrs = await read(phoff, phentsize * phnum);
    const segments = Array.from({ length: phnum }, (_, i) => {
      const at = i * phentsize;
      return {
        type: phdrs.readUInt32LE(at),
        offset: phdrs.readBigUInt64LE(at + 8),
        vaddr: phdrs.readBigUInt64LE(at + 16),
        filesz: phdrs.readBigUInt64LE(at + 32),
      };
    });
    const deps: ElfDeps = { needed: [] };
    const interp = segments.find((s) => s.type === PT_INTERP);
    if (interp) deps.interp = (await read(interp.offset, interp.filesz)).toString('latin1').replace(/\0.*$/s, '');
    const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
    if (!dynamic) return deps; // statically linked
    const dyn = await read(dynamic.offset, dynamic.filesz);
    const entries: [bigint, bigint][] = [];
    for (let at = 0; at + 16 <= dyn.length; at += 16) {
      const tag = dyn.readBigInt64LE(at);
      if (tag === 0n) break;
      entries.push([tag, dyn.readBigUInt64LE(at + 8)]);
    }
    const strtab = entries.find(([t]) => t === DT_STRTAB)?.[1];
    const strsz = entries.find(([t]) => t === DT_STRSZ)?.[1];
    if (strtab === undefined || strsz === undefined) return deps;
    // DT_STRTAB is an address; the PT_LOAD segment holding it maps it back to a file offset.
    const load = segments.find((s) => s.type === PT_LOAD && strtab >= s.vaddr && strtab < s.vaddr + s.filesz);
    if (!load) throw new Error(`${path}: DT_STRTAB is outside every loaded segment`);
    const base = strtab - load.vaddr + load.offset;
    for (const [tag, value] of entries) {
      if (tag !== DT_NEEDED) continue;
      // Read just this name (the table can be megabytes: it holds every exported symbol's name too).
      const chunk = await read(base + value, BigInt(Math.min(MAX_NAME, Number(strsz - value))));
      const end = chunk.indexOf(0);
      deps.needed.push(chunk.toString('latin1', 0, end < 0 ? chunk.length : end));
    }
    return deps;
  } finally {
    await file.close();
  }
}

/**
 * Resolves an absolute path inside a root folder as the guest would see it: symlinks are followed, absolute
 * targets start again from the root (never from the host's /). Undefined when it does not exist.
 */
export async function resolveInRoot(root: string, path: string, hops = 0): Promise<string | undefined> {
  if (hops > 40) return undefined; // ELOOP
  const parts = posix.normalize(path).split('/').filter((p) => p !== '' && p !== '.');
  let resolved = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = posix.join(resolved, parts[i] ?? '');
    const st = await lstat(join(root, next)).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      const target = await readlink(join(root, next));
      const rest = parts.slice(i + 1).join('/');
      const base = target.startsWith('/') ? target : posix.join(resolved, target);
      return resolveInRoot(root, posix.join(base, rest), hops + 1);
    }
    resolved = next;
  }
  return resolved;
}

/** Where glibc's loader looks without an ld.so.cache (Debian's multiarch directories first). */
export const LIBRARY_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];

/**
 * Checks that the programs (absolute guest paths) and every library they load, transitively, find their
 * loader and their sonames inside root. Returns what is missing, as "needer: soname" (empty when complete).
 */
export async function missingLibraries(root: string, programs: string[]): Promise<string[]> {
  const missing: string[] = [];
  const seen = new Set<string>();
  const queue: { path: string; from: string }[] = programs.map((p) => ({ path: p, from: '(program)' }));
  while (queue.length > 0) {
    const { path, from } = queue.shift() ?? { path: '', from: '' };
    const real = await resolveInRoot(root, path);
    if (real === undefined) {
      missing.push(`${from}: ${path}`);
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    const deps = await readElfDeps(join(root, real));
    if (!deps) {
      missing.push(`${from}: ${path} (not an ELF file)`);
      continue;
    }
    if (deps.interp !== undefined) queue.push({ path: deps.interp, from: path });
    for (const soname of deps.needed) {
      let found: string | undefined;
      for (const dir of LIBRARY_DIRS) {
        found = await resolveInRoot(root, posix.join(dir, soname));
        if (found !== undefined) break;
      }
      if (found === undefined) missing.push(`${path}: ${soname}`);
      else queue.push({ path: found, from: path });
    }
  }
  return missing;
}
