import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalAptRepo, type LocalAptRepo } from './local-apt-repo.js';
import { TestLodge } from './harness.js';

// One debian-12-dev VM (from the debian-12-desktop-less-dev template; create builds the image when it is not in
// the shared test cache, once per run): gcc builds and runs a program, its first boot installs a package from a
// repository the test serves on the host and apt upgrades it, and a disk made bigger while stopped is the root's size at the
// next boot. One boot for all (~30 s under TCG), one more for the disk.
const GiB = 2 ** 30;

describe('debian-12-dev: build tools, packages from a local apt repository, a bigger disk', () => {
  const lodge = new TestLodge();
  let repo: LocalAptRepo | undefined;
  const exec = (script: string) => lodge.cli(['exec', 'dev', '--', 'sh', '-c', script], { timeoutMs: 240_000 });
  const ok = async (script: string): Promise<string> => {
    const r = await exec(script);
    expect(r.code, `${script}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  let firstStart = '';
  const start = async (): Promise<string> => {
    const r = await lodge.cli(['start', 'dev', '--ready-timeout', '300'], { timeoutMs: 600_000 });
    expect(r.code, `${r.stderr}\n${lodge.consoleLog('dev').slice(-3000)}`).toBe(0);
    return r.stderr;
  };

  beforeAll(async () => {
    repo = await startLocalAptRepo();
    await repo.publish({ name: 'lodge-hello', version: '1.0' });
    await lodge.startDaemon();
    const t0 = performance.now();
    // The built-in template, flags overriding its 2 CPUs, 2 GiB and 20 GiB (small for a shared 2-core host);
    // create builds debian-12-dev when it is not in the shared test cache.
    const created = await lodge.cli(['create', 'tpl', '--template', 'debian-12-desktop-less-dev', '--cpus', '1', '--memory', '768M', '--disk', '3G'], { timeoutMs: 1_200_000 });
    expect(created.code, created.stderr).toBe(0);
    console.log(`create from the template: ${((performance.now() - t0) / 1000).toFixed(1)} s\n${created.stderr.trim()}`);
    // The VM that boots: a template file on that image whose first boot points apt at the test repository
    // only (the guest cannot reach the image's Debian mirror) and installs a package from it.
    const template = join(lodge.home, 'dev.yaml');
    writeFileSync(template, [
      'image: debian-12-dev', 'cpus: 1', 'memory: 768M', 'disk: 3G', 'packages: [lodge-hello]',
      'files:', '  - path: /etc/apt/sources.list', `    content: ${JSON.stringify(`${repo.sourcesLine}\n`)}`, '',
    ].join('\n'));
    const dev = await lodge.cli(['create', 'dev', '--template', template]);
    expect(dev.code, dev.stderr).toBe(0);
    firstStart = await start();
  }, 1_500_000);
  afterAll(async () => {
    await repo?.close();
    await lodge.cleanup();
  }, 60_000);

  it('was created from the template with the flags overriding it', async () => {
    const vm = await lodge.client.get('tpl');
    expect(vm.spec).toMatchObject({ image: 'debian-12-dev', cpus: 1, memory: 768 * 2 ** 20, disk: 3 * GiB });
    const image = await lodge.cli(['image', 'inspect', 'debian-12-dev']);
    expect(image.stdout).toMatch(/source:\s+recipe debian-12-dev on debian-12 /);
    expect(image.stdout).toMatch(/packages:\s+build-essential gdb git .*\(on top of debian-12's\)/);
  });

  it('gcc builds a C program that runs; make, gdb, git and pkg-config are there', async () => {
    const source = '#include <stdio.h>\nint main(void) { printf("hello from gcc %d\\n", __GNUC__); return 0; }\n';
    const out = await ok(`cd /tmp && cat >hello.c <<'EOF'\n${source}EOF\ngcc -O2 -o hello hello.c && ./hello && for p in make gdb git pkg-config; do command -v $p >/dev/null || echo "missing $p"; done`);
    expect(out).toMatch(/^hello from gcc 12\n$/);
  }, 240_000);

  it('first boot installs a package from the host repository; apt upgrades it to the version published after', async () => {
    if (!repo) throw new Error('no repository');
    expect(await ok("lodge-hello; dpkg-query -W -f '${Version}\\n' lodge-hello")).toBe('lodge-hello 1.0\n1.0\n');
    expect(firstStart).toMatch(/dev: provisioning: .*packages.*: ok\n/);
    await repo.publish({ name: 'lodge-hello', version: '2.0' });
    await ok('apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -q');
    expect(await ok("lodge-hello; dpkg-query -W -f '${Version}\\n' lodge-hello")).toBe('lodge-hello 2.0\n2.0\n');
  }, 480_000);

  it('a disk made bigger while stopped is the root file system\'s size at the next boot', async () => {
    const before = Number((await ok('systemctl is-system-running --wait >/dev/null || true; df -B1 --output=size / | tail -1')).trim());
    expect(before).toBeGreaterThan(3 * GiB * 0.9);
    expect(before).toBeLessThan(3 * GiB);
    const stopped = await lodge.cli(['stop', 'dev'], { timeoutMs: 180_000 });
    expect(stopped.code, stopped.stderr).toBe(0);
    const set = await lodge.cli(['set', 'dev', '--disk', '4G']);
    expect(set.code, set.stderr).toBe(0);
    await start();
    // The agent answers before the rest of boot; grow-root runs on the way to multi-user.target.
    const grown = await ok('systemctl is-system-running --wait >/dev/null || true; df -B1 --output=size / | tail -1; cat /var/lib/lodge/root-sectors');
    const [size, sectors] = grown.trim().split('\n').map(Number);
    expect(sectors).toBe((4 * GiB) / 512);
    expect(size).toBeGreaterThan(4 * GiB * 0.9);
    expect(await ok('lodge-hello')).toBe('lodge-hello 2.0\n'); // same disk: what apt installed is still there
  }, 480_000);
});
