import type { HostReport, HostUsage } from '@lodge/api';
import type { HostPort } from '../ports/vm-driver.js';
import type { VmLifecycle } from './vm-lifecycle.js';

/** The host as users see it: what it has, what it runs on, what VMs have committed and what they use now. */
export class HostService {
  constructor(private readonly d: { host: HostPort; lifecycle: VmLifecycle; usage: () => HostUsage | undefined }) {}

  async report(opts: { refresh: boolean }): Promise<HostReport> {
    const [info, capacity] = await Promise.all([this.d.host.info({ refresh: opts.refresh }), this.d.lifecycle.capacity()]);
    const usage = this.d.usage();
    return usage ? { ...info, capacity, usage } : { ...info, capacity };
  }
}
