import type { Command } from 'commander';
import type { VmUpdateRequest, VmUpdateResult } from '@lodge/api/lite';
import { sizeFlag, UsageError, wholeNumberFlag } from './flag-values.js';
import { RESOURCE_FLAG_OF, resourceFields, resourceOptions, type ResourceFlags } from './resource-flags.js';
import type { Session } from './session.js';

interface SetFlags extends ResourceFlags {
  cpus?: string;
  memory?: string;
  disk?: string;
}

const FLAG_OF: Record<string, string> = { cpus: '--cpus', memory: '--memory', disk: '--disk', ...RESOURCE_FLAG_OF };

/** Flags → the update request, checked with the wire schema before any request (loads zod, as create does). */
export async function updateRequestFrom(flags: SetFlags): Promise<VmUpdateRequest> {
  const req: Record<string, unknown> = resourceFields(flags, { clearable: true });
  if (flags.cpus !== undefined) req.cpus = wholeNumberFlag('--cpus', flags.cpus, { min: 1, max: 64 });
  if (flags.memory !== undefined) req.memory = sizeFlag('--memory', flags.memory);
  if (flags.disk !== undefined) req.disk = sizeFlag('--disk', flags.disk);
  const { VmUpdateRequest } = await import('@lodge/api');
  const checked = VmUpdateRequest.safeParse(req);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const key = String(issue?.path[0] ?? '');
    const flag = FLAG_OF[key];
    const what = flag ? `${flag} "${String(flags[key as keyof SetFlags] ?? req[key])}" is not valid: ` : '';
    throw new UsageError(`${what}${issue?.message ?? 'rejected'}`, 'see: lodge set --help');
  }
  return req as VmUpdateRequest;
}

export function describeUpdate(vm: string, r: VmUpdateResult): string {
  const lines: string[] = [];
  if (r.live.length > 0) lines.push(`Applied to running ${vm} now: ${r.live.join(', ')}`);
  if (r.nextStart.length > 0) lines.push(`Recorded for ${vm}, from its next start: ${r.nextStart.join(', ')}`);
  for (const note of r.notes) lines.push(`  note: ${note}`);
  return lines.join('\n');
}

/** `lodge set`: change CPU, memory and disk settings, live on a running VM. */
export function registerSetCommand(program: Command, session: Session): void {
  const cmd = program
    .command('set')
    .description('change a VM\'s CPUs, priority, quota, pinning, memory or disk; applied live while it runs')
    .argument('<name>', 'VM name')
    .option('--cpus <n>', 'vCPUs (hot-added live up to the VM\'s --max-cpus)')
    .option('--memory <size>', 'memory (live through the balloon, up to what the VM booted with)')
    .option('--disk <size>', 'grow the root disk (live: the guest file system grows too)');
  resourceOptions(cmd, { clearable: true, create: false })
    .option('--json', 'print {vm, result} as JSON')
    .action(async (name: string, flags: SetFlags) => {
      const req = await updateRequestFrom(flags);
      const out = await (await session.connect()).update(name, req);
      await session.emit(out, () => describeUpdate(name, out.result));
    });
}
