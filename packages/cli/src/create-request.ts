import { VmCreateRequest } from '@lodge/api';
import { firstBootFields } from './first-boot-flags.js';
import type { FirstBootFlags } from './first-boot-options.js';
import { sizeFlag, UsageError, wholeNumberFlag } from './flag-values.js';
import type { HostUser } from './host-user.js';
import { RESOURCE_FLAG_OF, resourceFields, type ResourceFlags } from './resource-flags.js';

/** The flags of `lodge create` as commander hands them over: strings, absent when not given. */
export interface CreateFlags extends ResourceFlags, FirstBootFlags {
  image?: string;
  cpus?: string;
  memory?: string;
  disk?: string;
  machine?: string;
}

const FLAG_OF: Record<string, string> = { name: 'VM name', image: '--image', cpus: '--cpus', memory: '--memory', disk: '--disk', machine: '--machine', ...RESOURCE_FLAG_OF };

/**
 * Turns `lodge create NAME [flags]` into the request, checking it with the wire schema first so a typo
 * is reported with its flag and value before any request. Only given fields are sent: defaults are the daemon's,
 * except the default user, filled from `host` (the host user running the CLI) when given.
 */
export function createRequestFrom(name: string, flags: CreateFlags, host?: HostUser): VmCreateRequest {
  const req = { name, ...resourceFields(flags, { clearable: false }), ...firstBootFields(flags, host) } as VmCreateRequest;
  if (flags.image !== undefined) req.image = flags.image;
  if (flags.cpus !== undefined) req.cpus = wholeNumberFlag('--cpus', flags.cpus, { min: 1 });
  if (flags.memory !== undefined) req.memory = sizeFlag('--memory', flags.memory);
  if (flags.disk !== undefined) req.disk = sizeFlag('--disk', flags.disk);
  if (flags.machine !== undefined) req.machine = flags.machine as VmCreateRequest['machine'];

  const checked = VmCreateRequest.safeParse(req);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const key = String(issue?.path[0] ?? 'name');
    const given = key === 'name' ? name : (flags[key as keyof CreateFlags] ?? (req as Record<string, unknown>)[key]);
    throw new UsageError(`${FLAG_OF[key] ?? key} "${given ?? ''}" is not valid: ${issue?.message ?? 'rejected'}`, 'see: lodge create --help');
  }
  return req;
}
