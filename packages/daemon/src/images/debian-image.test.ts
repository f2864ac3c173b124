import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageRecipe } from '@lodge/api';
import { AGENT_PORT_NAME } from '@lodge/api/guest';
import { debianRecipeHash } from './debian-image.js';
import { DEBIAN_FILES, extractBootFiles, kernelRelease } from './debian-boot-files.js';
import { AGENT_DEVICE_UNIT, DEBIAN_CUSTOMIZE, DEBIAN_ROOT_FILES } from './debian-root.js';
import { DEBIAN_PACKAGES, mmdebstrapArgs, mountsUnder, shellQuote } from './debian-rootfs.js';

const agent = (a: string) => ({ sha256: { 'lodge-agent.mjs': a, 'lodge-guest.mjs': 'g', 'lodge-spawn.c': 'c', 'lodge-port.c': 'p', 'port-exec.c': 'e', 'lodge-port.h': 'h' } });
const file = (path: string): string => DEBIAN_ROOT_FILES.find((f) => f.path === path)?.text ?? '';

describe('debianRecipeHash', () => {
  it('is stable for the same agent and changes with it', () => {
    expect(debianRecipeHash(agent('a'))).toBe(debianRecipeHash(agent('a')));
    expect(debianRecipeHash(agent('a'))).not.toBe(debianRecipeHash(agent('b')));
  });
  it('covers a YAML recipe: its packages and its text; debian-12 alone stays as it was', () => {
    const dev: ImageRecipe = { name: 'dev', base: 'debian-12', packages: ['gdb'], boot: 'direct' };
    const base = debianRecipeHash(agent('a'));
    expect(debianRecipeHash(agent('a'), dev)).not.toBe(base);
    expect(debianRecipeHash(agent('a'), { ...dev, packages: ['git'] })).not.toBe(debianRecipeHash(agent('a'), dev));
    expect(debianRecipeHash(agent('a'), { ...dev, description: 'x' })).not.toBe(debianRecipeHash(agent('a'), dev));
    expect(debianRecipeHash(agent('a'), undefined)).toBe(base);
  });
  it('differs for the GRUB variant', () => {
    const grub: ImageRecipe = { name: 'g', base: 'debian-12', packages: [], boot: 'grub' };
    expect(debianRecipeHash(agent('a'), grub)).not.toBe(debianRecipeHash(agent('a'), { ...grub, boot: 'direct' }));
  });
});

describe('mmdebstrapArgs', () => {
  const args = mmdebstrapArgs({ codename: 'bookworm', target: '/t/root', debCache: "/c/it's", filesDir: '/f', customize: ['rm -f /x*'] });
  it('bootstraps in root mode into a directory with the recipe packages, sources from stdin', () => {
    expect(args.slice(0, 3)).toEqual(['--mode=root', '--format=directory', '--variant=apt']);
    expect(args).toContain(`--include=${DEBIAN_PACKAGES.join(',')}`);
    expect(args.slice(-3)).toEqual(['bookworm', '/t/root', '-']);
    for (const p of ['systemd', 'linux-image-cloud-amd64', 'nodejs', 'qemu-guest-agent', 'openssh-server', 'sudo']) expect(DEBIAN_PACKAGES).toContain(p);
  });
  it('quotes host paths in hooks and runs customize commands in the chroot through sh (globs expand there)', () => {
    expect(args.filter((a) => a.includes(`'/c/it'\\''s'`))).toHaveLength(2);
    expect(args).toContain(`--customize-hook=cp -a '/f/.' "$1/"`);
    expect(args).toContain(`--customize-hook=chroot "$1" sh -c 'rm -f /x*'`);
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });
  it("installs a recipe's packages in the same run as the base's", () => {
    const withDev = mmdebstrapArgs({ codename: 'bookworm', target: '/t', debCache: '/c', filesDir: '/f', customize: [], packages: ['gdb', 'git'] });
    expect(withDev).toContain(`--include=${[...DEBIAN_PACKAGES, 'gdb', 'git'].join(',')}`);
  });
});

describe('debian root files', () => {
  it('starts the agent from udev on its port and binds it to the port device', () => {
    expect(AGENT_DEVICE_UNIT).toBe(`dev-virtio\\x2dports-${AGENT_PORT_NAME}.device`);
    expect(file('etc/udev/rules.d/60-lodge-agent.rules')).toContain(`ATTR{name}=="${AGENT_PORT_NAME}"`);
    expect(file('etc/udev/rules.d/60-lodge-agent.rules')).toContain('ENV{SYSTEMD_WANTS}+="lodge-agent.service"');
    const unit = file('etc/systemd/system/lodge-agent.service');
    expect(unit).toContain(`BindsTo=${AGENT_DEVICE_UNIT}`);
    expect(unit).toMatch(/^Restart=always$/m);
  });
  it('grows the root once per disk size and enables its units', () => {
    expect(file('usr/lib/lodge/grow-root')).toContain('resize2fs "$dev"');
    expect(file('usr/lib/lodge/grow-root')).toContain(`echo ', +' | sfdisk --quiet --no-reread --no-tell-kernel -N "$part" "/dev/$disk"`);
    expect(file('usr/lib/lodge/grow-root')).toContain('partx -u -n "$part" "/dev/$disk"');
    expect(DEBIAN_PACKAGES).toContain('fdisk');
    expect(file('etc/fstab')).toBe('/dev/vda / ext4 rw,errors=remount-ro 0 1\n');
    expect(file('etc/systemd/system/lodge-grow-root.service')).toMatch(/^Type=oneshot$/m);
    expect(DEBIAN_CUSTOMIZE[0]).toContain('lodge-grow-root.service');
    expect(DEBIAN_CUSTOMIZE[0]).toContain('systemd-networkd.service');
    expect(file('etc/systemd/network/80-lodge-dhcp.network')).toMatch(/^DHCP=ipv4$/m);
  });
  it('runs the provisioner at every boot, off the agent path, with the tools it calls', () => {
    const unit = file('etc/systemd/system/lodge-provision.service');
    expect(unit).toMatch(/^Type=oneshot$/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/lodge-guest provision$/m);
    // As soon as the file systems are writable: not after sysinit or networkd (its package step waits for a route).
    expect(unit).toMatch(/^After=local-fs\.target systemd-remount-fs\.service/m);
    expect(unit).not.toMatch(/sysinit\.target|systemd-networkd/);
    expect(unit).not.toMatch(/^Nice=/m); // lodge start waits for it: default priority
    expect(unit).not.toMatch(/lodge-agent/);
    expect(DEBIAN_CUSTOMIZE[0]).toContain('lodge-provision.service');
    for (const p of ['passwd', 'mount', 'sudo', 'kmod']) expect(DEBIAN_PACKAGES).toContain(p);
  });
  it('makes sshd host keys per VM: keygen before the config test', () => {
    expect(file('etc/systemd/system/ssh.service.d/lodge-host-keys.conf')).toMatch(/ExecStartPre=\nExecStartPre=\/usr\/lib\/lodge\/ssh-host-keys\nExecStartPre=\/usr\/sbin\/sshd -t/);
    expect(file('usr/lib/lodge/ssh-host-keys')).toContain('ssh-keygen -q -t "$t"');
    expect(DEBIAN_CUSTOMIZE).toContain('rm -f /etc/ssh/ssh_host_*');
  });
});

describe('boot files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lodge-debian-boot-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('needs exactly one kernel with its initrd', () => {
    expect(kernelRelease(['config-6.1.0-9-cloud-amd64', 'vmlinuz-6.1.0-9-cloud-amd64', 'initrd.img-6.1.0-9-cloud-amd64'])).toBe('6.1.0-9-cloud-amd64');
    expect(() => kernelRelease(['vmlinuz-a', 'initrd.img-a', 'vmlinuz-b', 'initrd.img-b'])).toThrow(/one kernel/);
    expect(() => kernelRelease(['vmlinuz-a'])).toThrow(/found: vmlinuz-a/);
  });

  it('copies a kernel that is no bzImage as it is, with its initrd', async () => {
    const rel = '6.1.0-9-cloud-amd64';
    await mkdir(join(dir, 'root/boot'), { recursive: true });
    await mkdir(join(dir, 'out'));
    await writeFile(join(dir, 'root/boot', `vmlinuz-${rel}`), 'kernel');
    await writeFile(join(dir, 'root/boot', `initrd.img-${rel}`), 'initrd');
    await writeFile(join(dir, 'root/boot', `config-${rel}`), 'CONFIG_PVH=y\n');
    expect(await extractBootFiles(join(dir, 'root'), join(dir, 'out'))).toEqual({ kernelFile: DEBIAN_FILES.bzImage, release: rel });
    expect(await readFile(join(dir, 'out', DEBIAN_FILES.initrd), 'utf8')).toBe('initrd');
  });
});

describe('mountsUnder', () => {
  it('finds mount points at or below a folder, decoding escaped spaces, and not its prefix-sharing siblings', () => {
    const info = [
      '22 1 8:1 / / rw - ext4 /dev/vda rw',
      '90 22 0:5 / /img/.debian-12.tmp-x/.work/root/proc rw - proc proc rw',
      '91 22 0:6 / /img/.debian-12.tmp-x/.work/root/dev/my\\040dir rw - tmpfs tmpfs rw',
      '92 22 0:7 / /img/.debian-12.tmp-xy/proc rw - proc proc rw',
    ].join('\n');
    expect(mountsUnder(info, '/img/.debian-12.tmp-x')).toEqual(['/img/.debian-12.tmp-x/.work/root/proc', '/img/.debian-12.tmp-x/.work/root/dev/my dir']);
    expect(mountsUnder(info, '/elsewhere')).toEqual([]);
  });
});
