import { describe, expect, it, vi } from 'vitest';
import type { ExitInfo } from '../ports/vm-driver.js';
import { shutdownRuntime, type StoppableRuntime } from './vm-shutdown.js';

/** A runtime whose guest ignores the power button; `exit()` ends it. */
function deafRuntime() {
  let exit: (info: ExitInfo) => void = () => undefined;
  const exited = new Promise<ExitInfo>((r) => (exit = r));
  const runtime = {
    exited,
    status: async () => 'running' as const,
    powerdown: vi.fn(async () => undefined),
    quit: vi.fn(async () => exit({ reason: 'quit' })),
    kill: vi.fn(async () => exit({ reason: 'killed' })),
  } satisfies StoppableRuntime;
  return { runtime, exit: () => exit({ reason: 'guest powered off' }) };
}

describe('shutdownRuntime', () => {
  it('asks the guest agent once when ACPI is not answered, and the agent powers it off', async () => {
    const { runtime, exit } = deafRuntime();
    const steps: string[] = [];
    const powerOff = vi.fn(async () => void setTimeout(exit, 20));
    await shutdownRuntime(runtime, { force: false, timeoutSec: 2, progress: (p) => steps.push(p.step), onEscalate: () => undefined, guest: { available: () => true, powerOff } });
    expect(powerOff).toHaveBeenCalledTimes(1);
    expect(steps).toContain('ACPI not answered; asking the guest agent');
    expect(runtime.quit).not.toHaveBeenCalled();
  });

  it('without an agent waits the timeout, then quits', async () => {
    const { runtime } = deafRuntime();
    const why: string[] = [];
    await shutdownRuntime(runtime, { force: false, timeoutSec: 0.3, progress: () => undefined, onEscalate: (w) => why.push(w), guest: { available: () => false, powerOff: async () => undefined } });
    expect(runtime.quit).toHaveBeenCalledTimes(1);
    expect(why[0]).toMatch(/did not power off within 0.3s/);
  });

  it('succeeds when QEMU exits while a power-button press is in flight', async () => {
    const { runtime, exit } = deafRuntime();
    let presses = 0;
    runtime.powerdown.mockImplementation(async () => {
      if (++presses < 2) return;
      setTimeout(exit, 10);
      throw new Error('QMP command "system_powerdown" failed: connection closed');
    });
    await shutdownRuntime(runtime, { force: false, timeoutSec: 30, progress: () => undefined, onEscalate: () => undefined });
    expect(presses).toBe(2);
    expect(runtime.quit).not.toHaveBeenCalled();
  });

  it('still fails when a press fails and QEMU lives on', async () => {
    const { runtime } = deafRuntime();
    runtime.powerdown.mockRejectedValue(new Error('QMP is broken'));
    await expect(shutdownRuntime(runtime, { force: false, timeoutSec: 30, progress: () => undefined, onEscalate: () => undefined })).rejects.toThrow('QMP is broken');
  }, 10_000);

  describe('when QEMU does not answer on QMP', () => {
    const unreachable = () => {
      const { runtime, exit } = deafRuntime();
      return { runtime: { ...runtime, status: async (): Promise<'running'> => Promise.reject(new Error('QEMU (pid 1) is running but does not answer on qmp.sock')) }, exit };
    };

    it('the guest agent powers it off; nothing is pressed, quit or killed', async () => {
      const { runtime, exit } = unreachable();
      const steps: string[] = [];
      const powerOff = vi.fn(async () => void setTimeout(exit, 20));
      await shutdownRuntime(runtime, { force: false, timeoutSec: 2, progress: (p) => steps.push(p.step), onEscalate: () => undefined, guest: { available: () => true, powerOff } });
      expect(powerOff).toHaveBeenCalledTimes(1);
      expect(steps[0]).toMatch(/does not answer on QMP .*asking the guest agent to power off/);
      expect(runtime.powerdown).not.toHaveBeenCalled();
      expect(runtime.kill).not.toHaveBeenCalled();
    });

    it('a guest that stays up past the timeout is killed, and the reason says why', async () => {
      const { runtime } = unreachable();
      const why: string[] = [];
      await shutdownRuntime(runtime, { force: false, timeoutSec: 0.2, progress: () => undefined, onEscalate: (w) => why.push(w), guest: { available: () => true, powerOff: async () => undefined } });
      expect(runtime.kill).toHaveBeenCalledTimes(1);
      expect(why).toEqual(['QEMU did not answer on QMP and the guest did not power off within 0.2s, so QEMU was killed']);
    });

    it.each([
      ['without an agent', { available: () => false, powerOff: async () => undefined }],
      ['when the agent cannot power off', { available: () => true, powerOff: async () => Promise.reject(new Error('agent gone')) }],
    ])('%s the stop fails with the QMP error and QEMU is left running', async (_what, guest) => {
      const { runtime } = unreachable();
      await expect(shutdownRuntime(runtime, { force: false, timeoutSec: 2, progress: () => undefined, onEscalate: () => undefined, guest })).rejects.toThrow(/does not answer on qmp.sock/);
      expect(runtime.kill).not.toHaveBeenCalled();
    });
  });
});
