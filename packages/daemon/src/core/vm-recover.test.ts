import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { VmSpec, type VmState } from '@lodge/api';
import { openDatabase } from '../store/database.js';
import { EventTable } from '../store/event-table.js';
import { VmTable } from '../store/vm-table.js';
import type { VmDriver, VmRuntime } from '../ports/vm-driver.js';
import { EventBus } from './event-bus.js';
import type { GuestService } from './guest-service.js';
import { VmLifecycle, type LifecycleDeps } from './vm-lifecycle.js';
import { VmRecords } from './vm-records.js';

const GiB = 2 ** 30;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A live QEMU as attach finds it: answers status, never exits during the test. */
const liveRuntime = (pid: number): VmRuntime =>
  ({ pid, exited: new Promise(() => undefined), status: async () => 'running', onRunState: () => () => undefined }) as unknown as VmRuntime;

/** Recorded VMs; attach answers only when the test lets each one go (so the test sees which wait), or fails for `failing`. */
function setup(vms: { name: string; state: VmState; pid: number }[], failing?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'lodge-recover-'));
  dirs.push(dir);
  const db = openDatabase(join(dir, 'lodge.db'));
  const records = new VmRecords(new VmTable(db), new EventBus(new EventTable(db)), (n) => join(dir, n));
  for (const vm of vms) {
    const spec = VmSpec.parse({ name: vm.name, image: 'micro', cpus: 1, memory: GiB, disk: 4 * GiB, machine: 'q35' });
    records.insert({ name: vm.name, spec, state: vm.state, pid: vm.pid, createdAt: 'x', updatedAt: 'x' });
  }
  const waiting = new Map<string, (found: VmRuntime | { gone: string }) => void>();
  const attach = (name: string): Promise<unknown> =>
    name === failing ? Promise.reject(new Error('cgroup mount vanished')) : new Promise((resolve) => waiting.set(name, resolve));
  const driver = { attach, pinnedImage: async () => undefined } as unknown as VmDriver;
  const images = { get: async () => ({ name: 'micro', recipeHash: 'abc' }) };
  const attached: [string, boolean][] = [];
  const guestCalls: string[] = [];
  const guest = {
    attach: (vm: string, _cid: number, agentExpected: boolean) => attached.push([vm, agentExpected]),
    detach: () => undefined,
    resumed: (vm: string) => guestCalls.push(`${vm} resumed`),
    vcpusRunning: (vm: string, running: boolean) => guestCalls.push(`${vm} vCPUs ${running ? 'run' : 'stopped'}`),
  } as unknown as GuestService;
  const lifecycle = new VmLifecycle({ records, driver, guest, images } as unknown as LifecycleDeps);
  return { records, waiting, lifecycle, attached, guestCalls };
}

it('re-attaches every VM at once: one slow to answer (QMP held) does not hold up the others', async () => {
  const { records, waiting, lifecycle, attached } = setup([
    { name: 'slow', state: 'running', pid: 101 },
    { name: 'b', state: 'paused', pid: 102 },
    { name: 'c', state: 'running', pid: 103 },
  ]);
  const recovered = lifecycle.recover();
  await new Promise((r) => setImmediate(r));
  expect([...waiting.keys()].sort()).toEqual(['b', 'c', 'slow']); // all three asked before any answered
  waiting.get('b')?.(liveRuntime(102));
  waiting.get('c')?.({ gone: 'QEMU (pid 103) exited while lodged was not running' });
  await new Promise((r) => setImmediate(r));
  expect(lifecycle.live()).toEqual(['b']);
  expect(records.get('c')).toMatchObject({ state: 'stopped', stateReason: 'QEMU (pid 103) exited while lodged was not running' });
  waiting.get('slow')?.(liveRuntime(101));
  await recovered;
  expect(lifecycle.live().sort()).toEqual(['b', 'slow']);
  expect([records.get('slow').state, records.get('b').state]).toEqual(['running', 'running']);
  // A built image (it has a recipe hash): requests soon after the re-attach wait for its Lodge agent.
  expect(attached.sort()).toEqual([['b', true], ['slow', true]]);
});

it('still re-attaches the others when one attach fails, then reports the failure', async () => {
  const { waiting, lifecycle } = setup(
    [
      { name: 'a', state: 'running', pid: 201 },
      { name: 'b', state: 'running', pid: 202 },
    ],
    'a',
  );
  const recovered = lifecycle.recover();
  await new Promise((r) => setImmediate(r));
  waiting.get('b')?.(liveRuntime(202));
  await expect(recovered).rejects.toThrow('cgroup mount vanished');
  expect(lifecycle.live()).toEqual(['b']);
});

it("tells the guest channels when QEMU's vCPUs stop and run again (QMP STOP/RESUME), so a paused guest's agent is not given up on", async () => {
  const { records, waiting, lifecycle, guestCalls } = setup([{ name: 'p', state: 'running', pid: 301 }]);
  let runState: ((running: boolean) => void) | undefined;
  const runtime = { ...liveRuntime(301), onRunState: (l: (running: boolean) => void) => ((runState = l), () => undefined) } as unknown as VmRuntime;
  const recovered = lifecycle.recover();
  await new Promise((r) => setImmediate(r));
  waiting.get('p')?.(runtime);
  await recovered;
  runState?.(false);
  expect(records.get('p').state).toBe('paused');
  runState?.(true);
  expect(records.get('p').state).toBe('running');
  expect(guestCalls).toEqual(['p vCPUs stopped', 'p vCPUs run', 'p resumed']);
});
