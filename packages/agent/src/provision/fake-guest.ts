// A GuestSystem for unit tests: a temp folder as the guest's root, and commands faked at the seam
// (mount copies a seed folder in, useradd/groupadd edit the passwd and group files, the rest answer as told).

import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CIDATA_FILES, CLOUD_CONFIG_HEADER, type CloudMetaData, type LodgeCloudConfig } from '@lodge/api/guest';
import type { CommandResult, GuestSystem, RunOptions } from './guest-system.js';

export interface Ran {
  argv: string[];
  env: Record<string, string>;
  logAs?: string;
}

/** Answers a command the fake does not know; undefined: exit 0, no output. */
export type Script = (argv: string[]) => { code: number; output?: string } | undefined;

export class FakeGuest implements GuestSystem {
  readonly ran: Ran[] = [];
  readonly chowns: { path: string; uid: number; gid: number }[] = [];
  slept = 0;
  script: Script = () => undefined;

  private constructor(readonly root: string, readonly seedDir: string) {}

  static async create(): Promise<FakeGuest> {
    const dir = await mkdtemp(join(tmpdir(), 'lodge-provision-'));
    const guest = new FakeGuest(join(dir, 'root'), join(dir, 'seed'));
    await guest.write('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n');
    await guest.write('/etc/group', 'root:x:0:\nsudo:x:27:\n');
    await guest.write('/etc/hostname', 'lodge\n');
    await guest.write('/etc/hosts', '127.0.0.1 localhost\n127.0.1.1 lodge\n::1 localhost\n');
    await guest.write('/proc/sys/kernel/hostname', 'lodge');
    await guest.write('/proc/net/route', 'Iface\tDestination\tGateway\tFlags\nens3\t00000000\t0202000A\t0003\n');
    await mkdir(guest.seedDir, { recursive: true });
    return guest;
  }

  /** Puts a seed disk in (a virtio disk with serial cidata) holding these files. */
  async seed(meta: CloudMetaData | string, config: LodgeCloudConfig | string): Promise<void> {
    await writeFile(join(this.seedDir, CIDATA_FILES.metaData), typeof meta === 'string' ? meta : JSON.stringify(meta));
    await writeFile(join(this.seedDir, CIDATA_FILES.userData), typeof config === 'string' ? config : `${CLOUD_CONFIG_HEADER}\n${JSON.stringify(config)}`);
    await this.write('/sys/block/vdb/serial', 'cidata');
  }

  path(guestPath: string): string {
    return join(this.root, guestPath);
  }

  async write(guestPath: string, text: string): Promise<void> {
    await mkdir(join(this.path(guestPath), '..'), { recursive: true });
    await writeFile(this.path(guestPath), text);
  }

  read(guestPath: string): Promise<string> {
    return readFile(this.path(guestPath), 'utf8');
  }

  /** The argv of every command run, joined, without the mount/umount pair. */
  commands(): string[] {
    return this.ran.map((r) => r.argv.join(' ').replaceAll(this.root, '')).filter((c) => !/^u?mount /.test(c));
  }

  async run(argv: string[], opts: RunOptions): Promise<CommandResult> {
    this.ran.push({ argv, env: opts.env, ...(opts.logAs === undefined ? {} : { logAs: opts.logAs }) });
    const [cmd] = argv;
    const last = argv[argv.length - 1] as string;
    if (cmd === 'mount') await cp(this.seedDir, last, { recursive: true });
    else if (cmd === 'umount') for (const f of await readdir(last)) await rm(join(last, f));
    else if (cmd === 'groupadd') await appendFile(this.path('/etc/group'), `${last}:x:${1000 + this.ran.length}:\n`);
    else if (cmd === 'useradd') {
      const uid = 1000 + this.ran.length;
      await appendFile(this.path('/etc/passwd'), `${last}:x:${uid}:${uid}::/home/${last}:${argv[argv.indexOf('-s') + 1]}\n`);
      await appendFile(this.path('/etc/group'), `${last}:x:${uid}:\n`);
      await mkdir(this.path(`/home/${last}`), { recursive: true });
    }
    const answer = this.script(argv) ?? { code: 0 };
    return { code: answer.code, output: Buffer.from(answer.output ?? '') };
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    // A file is chowned under its temp name before the rename: record it under the name it gets.
    this.chowns.push({ path: path.replace(this.root, '').replace(/\/\.([^/]+)\.lodge-tmp$/, '/$1'), uid, gid });
  }

  async sleep(ms: number): Promise<void> {
    this.slept += ms;
  }

  async cleanup(): Promise<void> {
    await rm(join(this.root, '..'), { recursive: true, force: true });
  }
}
