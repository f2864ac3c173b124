import type { Progress } from '@lodge/api';
import type { VmRuntime } from '../ports/vm-driver.js';

const QUIT_GRACE_MS = 5000;
/** A guest still booting misses a power-button press made before it listens; press again this often. */
const REPRESS_MS = 3000;

function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(() => (clearTimeout(timer), resolve(true)));
  });
}

async function pressUntilExit(runtime: VmRuntime, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await runtime.powerdown();
    const left = deadline - Date.now();
    if (await within(runtime.exited, Math.min(REPRESS_MS, Math.max(left, 0)))) return true;
    if (Date.now() >= deadline) return false;
  }
}

/** powerdown → wait → quit → kill: the guest gets its chance, QEMU always ends. */
export async function shutdownRuntime(
  runtime: VmRuntime,
  opts: { force: boolean; timeoutSec: number; progress: (p: Progress) => void; onEscalate: (why: string) => void },
): Promise<void> {
  if (opts.force) {
    opts.progress({ step: 'killing QEMU' });
    await runtime.kill();
    await runtime.exited;
    return;
  }
  // A paused guest cannot answer the power button.
  if ((await runtime.status()) === 'paused') {
    opts.progress({ step: 'VM is paused: quitting QEMU' });
  } else {
    opts.progress({ step: 'asking the guest to power off (ACPI)', percent: 10 });
    if (await pressUntilExit(runtime, opts.timeoutSec * 1000)) return;
    opts.onEscalate(`the guest did not power off within ${opts.timeoutSec}s, QEMU was told to quit`);
    opts.progress({ step: `guest did not power off within ${opts.timeoutSec}s: quitting QEMU`, percent: 80 });
  }
  await runtime.quit().catch(() => undefined);
  if (await within(runtime.exited, QUIT_GRACE_MS)) return;
  opts.onEscalate(`QEMU did not quit within ${QUIT_GRACE_MS / 1000}s and was killed`);
  await runtime.kill();
  await runtime.exited;
}
