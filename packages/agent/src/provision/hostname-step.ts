// The hostname, at every boot: /etc/hostname, the kernel's, and /etc/hosts' 127.0.1.1 line (manage_etc_hosts).

import { readFile, writeFile } from 'node:fs/promises';
import { at } from './guest-system.js';
import { tracked, type StepContext } from './step-run.js';

/** /etc/hosts with its 127.0.1.1 line naming `hostname` (added after 127.0.0.1's when there is none). */
export function hostsWith(hosts: string, hostname: string): string {
  const lines = hosts.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const line = `127.0.1.1 ${hostname}`;
  const own = lines.findIndex((l) => /^\s*127\.0\.1\.1\s/.test(l));
  if (own >= 0) lines[own] = line;
  else lines.splice(lines.findIndex((l) => /^\s*127\.0\.0\.1\s/.test(l)) + 1, 0, line);
  return `${lines.join('\n')}\n`;
}

async function writeIfChanged(path: string, text: string): Promise<void> {
  if ((await readFile(path, 'utf8').catch(() => undefined)) !== text) await writeFile(path, text, { mode: 0o644 });
}

export async function setHostname(ctx: StepContext): Promise<void> {
  const { hostname } = ctx.config;
  await tracked(ctx, 'hostname', hostname, async () => {
    await writeIfChanged(at(ctx.system, '/etc/hostname'), `${hostname}\n`);
    await writeFile(at(ctx.system, '/proc/sys/kernel/hostname'), hostname);
    if (ctx.config.manage_etc_hosts) {
      const hosts = at(ctx.system, '/etc/hosts');
      await writeIfChanged(hosts, hostsWith(await readFile(hosts, 'utf8').catch(() => '127.0.0.1 localhost\n'), hostname));
    }
  });
}
