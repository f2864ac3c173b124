import type { HostReport } from '@lodge/api';
import type { HostPort } from '../ports/vm-driver.js';
import type { VmLifecycle } from './vm-lifecycle.js';

/** The host as users see it: what it has, what it runs on, and what VMs have committed. */
export class HostService {
  constructor(private readonly d: { host: HostPort; lifecycle: VmLifecycle }) {}

  async report(opts: { refresh: boolean }): Promise<HostReport> {
    const [info, capacity] = await Promise.all([this.d.host.info({ refresh: opts.refresh }), this.d.lifecycle.capacity()]);
    return { ...info, capacity };
  }
}
