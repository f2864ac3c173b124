import { existsSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { LodgeEventRecord } from '@lodge/api';
import { sleep, TestLodge } from './harness.js';
import { VmGroupFiles } from './vm-cgroup.js';

// A VM whose QEMU outgrows its cgroup memory limit is stopped by the kernel, and Lodge says so in the VM's state
// and events rather than reporting a bare exit. The limit is tightened by hand to what QEMU uses now plus 48 MiB
// (the real one, guest RAM plus headroom, is meant never to be reached), then the guest fills 200 MiB of tmpfs.
describe('the host memory limit of a VM', () => {
  const lodge = new TestLodge();
  afterAll(() => lodge.cleanup());

  it('reports an OOM kill inside the VM cgroup as such', async (ctx) => {
    await lodge.bootVm('tight', ['--memory', '512M']);
    const vm = await lodge.client.get('tight');
    const group = new VmGroupFiles(vm.pid as number);
    if (!existsSync(`${group.dir('memory')}/memory.limit_in_bytes`)) ctx.skip(); // the file names below are cgroup v1's; v2 hosts are covered by the unit tests
    const limit = group.read('memory', 'memory.limit_in_bytes');
    expect(Number(limit)).toBe(512 * 2 ** 20 + 384 * 2 ** 20); // guest RAM plus the headroom Lodge sets
    const used = Number(group.read('memory', 'memory.usage_in_bytes'));
    writeFileSync(`${group.dir('memory')}/memory.limit_in_bytes`, String(used + 48 * 2 ** 20));

    await lodge.cli(['exec', 'tight', '--sh', 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=200'], { timeoutMs: 120_000 });
    let info = await lodge.client.get('tight');
    for (let i = 0; i < 120 && info.state !== 'stopped'; i++) (await sleep(500), (info = await lodge.client.get('tight')));
    expect(info.state).toBe('stopped');
    expect(info.stateReason).toMatch(/killed by the host memory limit/);

    // The same words reach event subscribers: the stored vm.state event, replayed from the start.
    const events = await lodge.client.events({ vm: 'tight', since: 0 });
    const seen: LodgeEventRecord[] = [];
    const timer = setTimeout(() => events.close(), 5000);
    for await (const ev of events) {
      seen.push(ev);
      if (ev.type === 'vm.state' && ev.to === 'stopped') break;
    }
    clearTimeout(timer);
    events.close();
    const stopped = seen.find((e) => e.type === 'vm.state' && e.to === 'stopped');
    expect(stopped && 'reason' in stopped ? stopped.reason : undefined).toMatch(/host memory limit/);
  });
});
