import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_PORT_NAME, QGA_PORT_NAME } from '@lodge/api/guest';
import { loadAgentFiles, type AgentFiles } from './agent-files.js';
import { writeManifest } from './image-manifest.js';
import { INITRAMFS_INIT } from './micro-init.js';
import { buildMicroImage, MICRO_BOOT_MARKER, MICRO_KERNEL_CMDLINE, microRecipeHash } from './micro-image.js';
import { GUEST_AGENT, MICRO_ROOT_FILES } from './micro-root.js';

let dir: string;
/** Placeholder agent files (the real ones come from @lodge/agent). */
let agentDir: string;
let agent: AgentFiles;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lodge-micro-'));
  agentDir = join(dir, '.agent');
  await mkdir(agentDir);
  await writeFile(join(agentDir, 'lodge-agent.mjs'), 'console.log("agent")\n');
  await writeFile(join(agentDir, 'lodge-guest.mjs'), 'console.log("guest")\n');
  await writeFile(join(agentDir, 'lodge-spawn.c'), 'int main(void) { return 0; }\n');
  await writeFile(join(agentDir, 'lodge-port.c'), '#include "lodge-port.h"\nint main(void) { return exec_part; }\n');
  await writeFile(join(agentDir, 'port-exec.c'), 'int exec_part;\n');
  await writeFile(join(agentDir, 'lodge-port.h'), 'extern int exec_part;\n');
  agent = await loadAgentFiles(agentDir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('micro recipe', () => {
  it('has shell scripts that parse', () => {
    const scripts = [INITRAMFS_INIT, ...MICRO_ROOT_FILES.filter((f) => f.text.startsWith('#!/bin/sh')).map((f) => f.text)];
    expect(scripts.length).toBeGreaterThanOrEqual(6);
    for (const text of scripts) execFileSync('sh', ['-n'], { input: text });
  });

  const file = (path: string): string => MICRO_ROOT_FILES.find((f) => f.path === path)?.text ?? '';

  it('has init respawn qemu-ga and the agent wrapper on their virtio-serial ports, after rcS named the ports', () => {
    const inittab = file('etc/inittab');
    expect(inittab).toMatch(new RegExp(`^::respawn:/usr/sbin/qemu-ga -m virtio-serial -p /dev/virtio-ports/${QGA_PORT_NAME} -t /run .*-r$`, 'm'));
    expect(inittab).toContain(`::respawn:${GUEST_AGENT.run}\n`);
    expect(inittab.indexOf('::sysinit:/etc/init.d/rcS')).toBeLessThan(inittab.indexOf('::respawn:'));
    const rcs = file('etc/init.d/rcS');
    expect(rcs).toContain('/sys/class/virtio-ports/vport*');
    expect(rcs).toContain('mkdir -p /run/lodge');
    expect(rcs.indexOf('/dev/virtio-ports')).toBeLessThan(rcs.indexOf(MICRO_BOOT_MARKER));
  });

  it('keeps the agent off its port while the hold file exists, then execs Node on the bundled agent', () => {
    const run = file(GUEST_AGENT.run.slice(1));
    expect(run).toContain(`while [ -e ${GUEST_AGENT.hold} ] || [ ! -e /dev/virtio-ports/${AGENT_PORT_NAME} ]; do`);
    expect(run).toMatch(new RegExp(`^exec /usr/bin/node --jitless --no-expose-wasm ${GUEST_AGENT.agent} `, 'm'));
    expect(file('usr/bin/lodge-guest')).toContain(`exec /usr/bin/node --jitless --no-expose-wasm ${GUEST_AGENT.cli} "$@"`);
  });

  it('names the virtio-serial ports as udev would, in a real shell', async () => {
    // rcS's loop against a fake /sys and /dev: the loop is cut out of rcS and its paths moved under a temp root.
    const rcs = file('etc/init.d/rcS');
    const start = rcs.indexOf('mkdir -p /dev/virtio-ports');
    const loop = rcs.slice(start, rcs.indexOf('\ndone\n', start) + 5);
    const fake = join(dir, 'fake');
    for (const [port, name] of [['vport1p1', AGENT_PORT_NAME], ['vport1p2', QGA_PORT_NAME], ['vport1p3', '']] as [string, string][]) {
      await mkdir(join(fake, 'sys/class/virtio-ports', port), { recursive: true });
      if (name) await writeFile(join(fake, 'sys/class/virtio-ports', port, 'name'), `${name}\n`);
    }
    const script = loop.replaceAll('/sys/', `${fake}/sys/`).replaceAll('/dev/', `${fake}/dev/`).replaceAll('usleep 10000', ':');
    execFileSync('sh', ['-c', script]);
    const ports = join(fake, 'dev/virtio-ports');
    expect((await readdir(ports)).sort()).toEqual([AGENT_PORT_NAME, QGA_PORT_NAME]);
    expect(await readlink(join(ports, QGA_PORT_NAME))).toBe('../vport1p2');
  });

  it('prints the boot marker from rcS and boots from /dev/vda on the serial console', () => {
    expect(MICRO_ROOT_FILES.find((f) => f.path === 'etc/init.d/rcS')?.text).toContain(`echo "${MICRO_BOOT_MARKER}"`);
    expect(MICRO_KERNEL_CMDLINE).toMatch(/^console=ttyS0 root=\/dev\/vda rw\b/);
    expect(MICRO_KERNEL_CMDLINE).toContain('panic=-1');
  });

  it('has a stable recipe hash that changes with the agent', () => {
    expect(microRecipeHash(agent)).toBe(microRecipeHash(agent));
    const newer = { sha256: { ...agent.sha256, 'lodge-agent.mjs': 'another agent' } };
    expect(microRecipeHash(newer)).not.toBe(microRecipeHash(agent));
    const spawner = { sha256: { ...agent.sha256, 'lodge-spawn.c': 'another spawner' } };
    expect(microRecipeHash(spawner)).not.toBe(microRecipeHash(agent));
    const relay = { sha256: { ...agent.sha256, 'lodge-port.c': 'another relay' } };
    expect(microRecipeHash(relay)).not.toBe(microRecipeHash(agent));
  });
});

/** A complete micro image folder (placeholder files) built by the given recipe. */
async function builtImage(recipeHash: string) {
  const folder = join(dir, 'micro');
  await mkdir(folder);
  for (const f of ['vmlinuz', 'initrd.img', 'disk.qcow2']) await writeFile(join(folder, f), 'x');
  const info = {
    name: 'micro', kernel: 'vmlinuz', initrd: 'initrd.img', disk: 'disk.qcow2', kernelCmdline: MICRO_KERNEL_CMDLINE,
    kernelVersion: '6.1.0-56-cloud-amd64', sizeBytes: 3, builtAt: new Date().toISOString(), recipeHash, bootMarker: MICRO_BOOT_MARKER,
  };
  await writeManifest(folder, info);
  return { folder, info };
}

describe('buildMicroImage', () => {
  it('returns a current image as cached without running apt or any other program', async () => {
    const { folder, info } = await builtImage(microRecipeHash(agent));
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'no-programs-here'); // any apt-cache / apt-get call would now fail with ENOENT
    try {
      const result = await buildMicroImage({ imagesDir: dir, agentDir });
      expect(result).toEqual({ cached: true, image: { ...info, folder } });
    } finally {
      process.env.PATH = path;
    }
  });

  it('asks before replacing an image whose recipe changed, and stops with nothing touched when refused', async () => {
    const { folder } = await builtImage('an older recipe');
    const asked: string[] = [];
    const refuse = (why: string): never => {
      asked.push(why);
      throw new Error(`refused: ${why}`);
    };
    await expect(buildMicroImage({ imagesDir: dir, agentDir, beforeReplace: refuse })).rejects.toThrow('refused: its recipe changed');
    await expect(buildMicroImage({ imagesDir: dir, agentDir, force: true, beforeReplace: refuse })).rejects.toThrow('refused: a forced rebuild');
    expect(asked).toEqual(['its recipe changed', 'a forced rebuild']);
    expect((await readdir(dir)).filter((n) => n !== '.agent').sort()).toEqual(['micro']);
    expect((await readdir(folder)).sort()).toEqual(['disk.qcow2', 'image.json', 'initrd.img', 'vmlinuz']);
  });

  it('leaves nothing behind when aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(buildMicroImage({ imagesDir: dir, agentDir, signal: controller.signal })).rejects.toThrow('stop');
    expect((await readdir(dir)).filter((n) => n !== '.cache' && n !== '.agent')).toEqual([]);
  });

  it('needs the agent files, and says how to build them', async () => {
    await expect(buildMicroImage({ imagesDir: dir, agentDir: join(dir, 'nowhere') })).rejects.toMatchObject({ code: 'image_unavailable' });
  });
});
