/** Keys a template may have: a create request's fields but its name (the command line gives it). */
export const TEMPLATE_KEYS = [
  'image', 'cpus', 'memory', 'disk', 'machine',
  'cpuPriority', 'cpuWeight', 'cpuMax', 'cpuPin', 'maxCpus', 'diskIops', 'diskBps',
  'hostname', 'user', 'users', 'packages', 'files', 'provision',
] as const;

/** Lima template keys Lodge has no use for, and what to write instead. */
const LIMA_HINTS: Record<string, string> = {
  images: 'write image: NAME; Lodge images are built with lodge image build (lodge image list shows them), not downloaded',
  arch: 'Lodge VMs have the host\'s architecture; leave arch out',
  vmType: 'Lodge VMs always run on QEMU; leave vmType out',
  cpuType: 'Lodge picks the CPU model; leave cpuType out',
  firmware: 'direct-boot images need no firmware; leave firmware out',
  mounts: 'templates have no mounts: copy files in with lodge cp, or write them under files:',
  mountType: 'templates have no mounts: copy files in with lodge cp, or write them under files:',
  additionalDisks: 'add disks after create: lodge disk add VM SIZE',
  ssh: 'the default user gets your SSH keys: user: { name: NAME, sshKeys: [...] } (filled from your ~/.ssh when left out)',
  containerd: 'install what you need with packages: or a provision script',
  env: 'set variables in a provision script',
  upgradePackages: 'add a provision script running apt-get upgrade -y',
  probes: 'a provision script that fails makes lodge start fail with its output',
  message: 'print it from a provision script',
  portForwards: 'templates have no port forwards',
  networks: 'VMs get user-mode networking; leave networks out',
  video: 'VMs have a serial console (lodge console); leave video out',
};

/** Levenshtein distance, for "did you mean" on a mistyped key. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** What to write instead of an unknown key: Lima's equivalent, else the closest known key, else the list. */
export function unknownKeyHint(key: string): string {
  const lima = LIMA_HINTS[key];
  if (lima !== undefined) return lima;
  const close = TEMPLATE_KEYS.find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
  return close !== undefined ? `did you mean ${close}?` : `a template has: ${TEMPLATE_KEYS.join(', ')}`;
}
