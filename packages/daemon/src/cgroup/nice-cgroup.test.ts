import { spawn } from 'node:child_process';
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { niceOf } from './cpu-values.js';
import { hostCgroups } from './host-cgroups.js';

describe('without writable cgroups: nice', () => {
  it('maps weights to nice values with the same CFS ratio', () => {
    expect([niceOf(100), niceOf(400), niceOf(25), niceOf(1), niceOf(10_000)]).toEqual([0, -6, 6, 19, -20]);
  });

  it('renices every thread of the process; quota and pinning are refused naming why', async () => {
    const cgroups = await hostCgroups({ version: 'v1', writable: false, note: 'not root and no delegation', dataRoot: '/tmp/x' });
    expect(cgroups.mode).toBe('nice');
    await expect(cgroups.create('web', { cpu: { weight: 100, maxPercent: 50 }, memoryBytes: 2 ** 30 })).rejects.toThrow(
      /a CPU quota \(50%\) needs cgroups, and they are not writable here \(not root and no delegation\)/,
    );
    await expect(cgroups.create('web', { cpu: { weight: 100, pin: '0' }, memoryBytes: 2 ** 30 })).rejects.toMatchObject({ code: 'host_unsupported' });
    const child = spawn('sleep', ['30']);
    try {
      const group = await cgroups.create('web', { cpu: { weight: 25 }, memoryBytes: 2 ** 30 });
      await group.addProcess(child.pid ?? 0);
      expect(getPriority(child.pid)).toBe(6);
      await group.setCpu({ weight: 10 });
      expect(getPriority(child.pid)).toBe(10);
      expect(await group.cpuNs()).toBeUndefined();
    } finally {
      child.kill();
    }
  });
});
