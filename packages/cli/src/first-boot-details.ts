import type { VmInfo } from '@lodge/api/lite';
import type { Pair } from './key-value-lines.js';

const keys = (n: number): string => `${n} SSH key${n === 1 ? '' : 's'}`;

/** `lodge info`'s first-boot lines: hostname, default user, users, packages, files, scripts (unset and empty ones left out). */
export function firstBootDetails(vm: Pick<VmInfo, 'spec'>): Pair[] {
  const s = vm.spec;
  const user = s.user === false ? 'none' : s.user ? `${s.user.name} (sudo, ${keys(s.user.sshKeys?.length ?? 0)})` : undefined;
  const users = (s.users ?? []).map((u) => `${u.name} (${[u.sudo ? 'sudo' : '', keys(u.sshKeys?.length ?? 0)].filter(Boolean).join(', ')})`);
  const files = s.files ?? [];
  const scripts = (s.provision ?? []).map((p) => `${p.name} (${p.mode}, ${p.run}, timeout ${p.timeout} s)`);
  return [
    ['hostname', s.hostname],
    ['user', user],
    ['users', users.join(', ')],
    ['packages', (s.packages ?? []).join(', ')],
    ['files', files.length === 0 ? undefined : `${files.length}: ${files.slice(0, 5).map((f) => f.path).join(', ')}${files.length > 5 ? ', …' : ''}`],
    ['scripts', scripts.join(', ')],
  ];
}
