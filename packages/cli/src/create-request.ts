import { VmCreateRequest } from '@lodge/api';
import { firstBootFields } from './first-boot-flags.js';
import type { FirstBootFlags } from './first-boot-options.js';
import { sizeFlag, UsageError, wholeNumberFlag } from './flag-values.js';
import type { HostUser } from './host-user.js';
import { RESOURCE_FLAG_OF, resourceFields, type ResourceFlags } from './resource-flags.js';
import type { VmTemplate } from './vm-template.js';
import { issueText } from './yaml-file.js';

/** The flags of `lodge create` as commander hands them over: strings, absent when not given. */
export interface CreateFlags extends ResourceFlags, FirstBootFlags {
  image?: string;
  cpus?: string;
  memory?: string;
  disk?: string;
  machine?: string;
  template?: string;
}

const FLAG_OF: Record<string, string> = { name: 'VM name', image: '--image', cpus: '--cpus', memory: '--memory', disk: '--disk', machine: '--machine', ...RESOURCE_FLAG_OF };

/**
/**
 * Turns `lodge create NAME [--template T] [flags]` into the request, checking it with the wire schema first so a
 * typo is reported with its flag (or template key) and value before any request. Flags override the template's
 * fields; only given fields are sent: defaults are the daemon's, except the default user, filled from `host` (the
 * host user running the CLI) unless a flag or the template names one.
 */
export function createRequestFrom(name: string, flags: CreateFlags, opts: { template?: VmTemplate; host?: HostUser } = {}): VmCreateRequest {
  const { template, host } = opts;
  const templateUser = template?.fields.user !== undefined && flags.user === undefined && flags.sshKey === undefined;
  const fromFlags: Record<string, unknown> = { ...resourceFields(flags, { clearable: false }), ...firstBootFields(flags, templateUser ? undefined : host) };
  if (flags.image !== undefined) fromFlags.image = flags.image;
  if (flags.cpus !== undefined) fromFlags.cpus = wholeNumberFlag('--cpus', flags.cpus, { min: 1 });
  if (flags.memory !== undefined) fromFlags.memory = sizeFlag('--memory', flags.memory);
  if (flags.disk !== undefined) fromFlags.disk = sizeFlag('--disk', flags.disk);
  if (flags.machine !== undefined) fromFlags.machine = flags.machine;
  const req = { ...template?.fields, name, ...fromFlags } as VmCreateRequest;

  const checked = VmCreateRequest.safeParse(req);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const key = String(issue?.path[0] ?? 'name');
    if (template && key in template.fields && !(key in fromFlags)) {
      throw new UsageError(`template ${template.file}: ${issueText(issue)}`, 'fix the template, or override the key with its flag');
    }
    const given = key === 'name' ? name : (flags[key as keyof CreateFlags] ?? (req as Record<string, unknown>)[key]);
    throw new UsageError(`${FLAG_OF[key] ?? key} "${String(given ?? '')}" is not valid: ${issue?.message ?? 'rejected'}`, 'see: lodge create --help');
  }
  return req;
}
