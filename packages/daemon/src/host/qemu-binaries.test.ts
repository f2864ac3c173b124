import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LodgeError } from '@lodge/api';
import { findQemu, requireQemu } from './qemu-binaries.js';
import { parseQemuVersion } from './qemu-version.js';

let bin: string;
beforeAll(async () => {
  bin = await mkdtemp(join(tmpdir(), 'qemu-bin-test-'));
  await mkdir(join(bin, 'empty'));
  await writeScript('qemu-system-x86_64', 'echo "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"');
  await writeScript('qemu-img', 'echo "qemu-img version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"');
  await writeScript('broken-qemu', 'echo "nothing useful"');
  await writeFile(join(bin, 'not-executable'), '');
});
afterAll(async () => { await rm(bin, { recursive: true, force: true }); });

async function writeScript(name: string, body: string): Promise<void> {
  await writeFile(join(bin, name), `#!/bin/sh\n${body}\n`);
  await chmod(join(bin, name), 0o755);
}

describe('parseQemuVersion', () => {
  it('reads the version of qemu-system and of qemu-img', () => {
    expect(parseQemuVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022')).toBe('7.2.22');
    expect(parseQemuVersion('qemu-img version 8.1.0\n')).toBe('8.1.0');
    expect(parseQemuVersion('QEMU emulator version 9.0 (v9.0.0)')).toBe('9.0');
    expect(parseQemuVersion('Copyright only')).toBeUndefined();
  });
});

describe('findQemu', () => {
  it('searches PATH for both binaries and runs --version', async () => {
    const found = await findQemu({ env: { PATH: `${join(bin, 'empty')}:${bin}` } });
    expect(found).toEqual({ system: join(bin, 'qemu-system-x86_64'), img: join(bin, 'qemu-img'), version: '7.2.22' });
  });

  it('says which package to install when a binary is not in PATH', async () => {
    const found = await findQemu({ env: { PATH: join(bin, 'empty') } });
    expect(found.system).toBeUndefined();
    expect(found.note).toBe('qemu-system-x86_64 not found in PATH: install it with apt-get install qemu-system-x86; '
      + 'qemu-img not found in PATH: install it with apt-get install qemu-utils');
  });

  it('takes LODGE_QEMU_SYSTEM and LODGE_QEMU_IMG over PATH, and names them when they point nowhere', async () => {
    const env = { PATH: bin, LODGE_QEMU_SYSTEM: '/nonexistent', LODGE_QEMU_IMG: join(bin, 'not-executable') };
    const found = await findQemu({ env });
    expect([found.system, found.img, found.version]).toEqual([undefined, undefined, undefined]);
    expect(found.note).toContain('qemu-system-x86_64 not found at /nonexistent (from LODGE_QEMU_SYSTEM): install it with apt-get install qemu-system-x86');
    expect(found.note).toContain(`qemu-img not found at ${join(bin, 'not-executable')} (from LODGE_QEMU_IMG)`);
  });

  it('looks a bare command name in LODGE_QEMU_SYSTEM up in PATH; explicit options win over env', async () => {
    const env = { PATH: bin, LODGE_QEMU_SYSTEM: 'qemu-img' };
    expect((await findQemu({ env })).system).toBe(join(bin, 'qemu-img'));
    expect((await findQemu({ env, system: join(bin, 'qemu-system-x86_64') })).system).toBe(join(bin, 'qemu-system-x86_64'));
  });

  it('keeps the path but notes it when --version prints no version', async () => {
    const found = await findQemu({ env: { PATH: bin }, system: join(bin, 'broken-qemu') });
    expect(found.system).toBe(join(bin, 'broken-qemu'));
    expect(found.version).toBeUndefined();
    expect(found.note).toContain('--version printed no version: nothing useful');
  });
});

describe('requireQemu', () => {
  it('returns the binaries when qemu-system exists', async () => {
    expect((await requireQemu({ env: { PATH: bin } })).system).toBe(join(bin, 'qemu-system-x86_64'));
  });

  it('throws host_unsupported with an install hint when qemu-system is missing', async () => {
    const err: unknown = await requireQemu({ env: { PATH: bin, LODGE_QEMU_SYSTEM: '/nonexistent' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LodgeError);
    expect(err).toMatchObject({ code: 'host_unsupported', message: expect.stringContaining('not found at /nonexistent') });
    expect((err as LodgeError).hint).toContain('apt-get install qemu-system-x86');
  });
});
