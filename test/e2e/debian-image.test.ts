import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageEntry } from '@lodge/api';
import { DEBIAN_IMAGE_NAME } from '../../packages/daemon/src/images/debian-image.js';
import { buildTestImage, execThroughAgent, sleep, TestLodge } from './harness.js';

// Builds debian-12 into the shared test image cache (once per cache: later runs are a cache hit), boots it
// under TCG with an 8G disk, and checks systemd, the agent, the grown root, qemu-guest-agent and sshd.
const HOLD = '/run/lodge/agent.hold';
const DISK_BYTES = 8 * 2 ** 30;

describe('debian-12 image', () => {
  const lodge = new TestLodge();
  let image: ImageEntry;
  const exec = (script: string) => lodge.cli(['exec', 'dev', '--', 'sh', '-c', script], { timeoutMs: 180_000 });

  beforeAll(async () => {
    const t0 = performance.now();
    const built = await buildTestImage(DEBIAN_IMAGE_NAME);
    image = built.image;
    console.log(`debian-12 ${built.cached ? 'cache hit' : 'built'} in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${(image.sizeBytes / 2 ** 20).toFixed(0)} MiB`);
    await lodge.startDaemon();
  }, 900_000);
  afterAll(() => lodge.cleanup(), 60_000);

  it('is a cache hit the second time', async () => {
    const again = await buildTestImage(DEBIAN_IMAGE_NAME);
    expect(again.cached).toBe(true);
    expect(again.image).toEqual(image);
  });

  it('lodge start returns with the agent ready, and systemd reaches its default target', async () => {
    const created = await lodge.cli(['create', 'dev', '--image', DEBIAN_IMAGE_NAME, '--disk', '8G', '--memory', '1G', '--cpus', '1']);
    expect(created.code, created.stderr).toBe(0);
    const t0 = performance.now();
    const started = await lodge.cli(['start', 'dev', '--ready-timeout', '300'], { timeoutMs: 320_000 });
    expect(started.code, `${started.stderr}\n${lodge.consoleLog('dev').slice(-3000)}`).toBe(0);
    console.log(`lodge start to agent ready: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // Under a loaded host the start may settle on qemu-ga first (its grace runs out); our agent must follow.
    let guest = await lodge.client.guest('dev');
    for (let i = 0; i < 240 && !(guest.state === 'ready' && guest.via === 'lodge-agent'); i++) {
      await new Promise((r) => setTimeout(r, 500));
      guest = await lodge.client.guest('dev');
    }
    console.log(`lodge start to the Lodge agent ready: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(guest.state).toBe('ready');
    expect(guest.via).toBe('lodge-agent');
    expect(guest.info?.kernel.release).toBe(image.kernelVersion);

    const running = await exec('systemctl is-system-running --wait; systemctl --failed --no-legend --plain');
    console.log(`systemctl is-system-running: ${running.stdout.trim()}`);
    expect(running.stdout.split('\n')[0], `failed units:\n${running.stdout}`).toBe('running');
    expect(lodge.consoleLog('dev')).toContain(image.bootMarker);
    const analyze = await exec('systemd-analyze; systemd-analyze blame | head -8; journalctl -b -o short-monotonic -u lodge-agent -u qemu-guest-agent | grep -i started');
    console.log(analyze.stdout);
  }, 400_000);

  it('lodge exec runs commands as root in a Debian 12 with apt, Node and sudo', async () => {
    const r = await exec('id -u; . /etc/os-release; echo "$VERSION_ID"; for p in apt-get node sudo; do command -v $p; done | wc -l; node -e "console.log(6*7)"');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('0\n12\n3\n42\n');
  }, 120_000);

  it('exec starts plain programs, as root or as a user, from lodge-port and the agent\'s through lodge-spawn, both compiled into the image', async () => {
    expect((await exec('cat /proc/$PPID/comm')).stdout).toBe('lodge-port\n');
    const asUser = await lodge.cli(['exec', 'dev', '--user', 'nobody', '--', 'sh', '-c', 'cat /proc/$PPID/comm; id -un; id -gn; echo $HOME'], { timeoutMs: 180_000 });
    expect(asUser.stdout).toBe('lodge-port\nnobody\nnogroup\n/nonexistent\n');
    expect(await execThroughAgent(lodge.client, 'dev', 'cat /proc/$PPID/comm')).toBe('lodge-spawn\n');
  });

  it('the agent talks over its port through lodge-port, compiled into the image', async () => {
    expect((await exec('p=$(pidof lodge-port); cat /proc/$(cut -d" " -f4 /proc/$p/stat)/comm')).stdout).toBe('node\n');
  });

  it('the root file system grew to the 8G disk at first boot', async () => {
    const r = await exec('df -B1 --output=size / | tail -1; cat /var/lib/lodge/root-sectors');
    expect(r.code, r.stderr).toBe(0);
    const [size, sectors] = r.stdout.trim().split('\n').map(Number);
    expect(sectors).toBe(DISK_BYTES / 512);
    expect(size).toBeGreaterThan(DISK_BYTES * 0.9); // minus ext4's own metadata
  }, 120_000);

  it('sshd listens on port 22 with host keys made in this VM', async () => {
    const r = await exec('systemctl is-active ssh; ss -Htln "sport = :22" | wc -l; ls /etc/ssh/ssh_host_ed25519_key.pub');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').slice(0, 1)).toEqual(['active']);
    expect(Number(r.stdout.split('\n')[1])).toBeGreaterThan(0);
  }, 120_000);

  it('qemu-guest-agent answers when our agent is held off its port, and the agent comes back', async () => {
    await exec(`touch ${HOLD}; setsid sh -c "sleep 0.3; pkill -9 -x node" >/dev/null 2>&1 &`);
    const deadline = Date.now() + 90_000;
    let status = await lodge.client.guest('dev');
    while (!(status.via === 'qemu-guest-agent' && status.state === 'ready')) {
      if (Date.now() > deadline) throw new Error(`no qemu-guest-agent fallback: ${JSON.stringify(status)}`);
      await sleep(300);
      status = await lodge.client.guest('dev');
    }
    expect(status.info?.kernel.release).toBe(image.kernelVersion);
    const info = await lodge.cli(['info', 'dev']);
    expect(info.stdout).toMatch(/qemu-guest-agent/);
    const r = await lodge.cli(['exec', 'dev', '--', 'sh', '-c', `echo via-qga; rm -f ${HOLD}`]);
    expect(r.stdout).toBe('via-qga\n');
    while (!(status.via === 'lodge-agent' && status.state === 'ready')) {
      if (Date.now() > deadline + 60_000) throw new Error(`the Lodge agent did not come back: ${JSON.stringify(status)}`);
      await sleep(300);
      status = await lodge.client.guest('dev');
    }
  }, 240_000);
});
