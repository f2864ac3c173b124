// Packages (once per instance): apt-get update, then apt-get install -y, once the guest has a default route.

import { readFile } from 'node:fs/promises';
import { at, cleanEnv, runChecked } from './guest-system.js';
import { once, tracked, type StepContext } from './step-run.js';

export const ROUTE_WAIT_MS = 60_000;
const ROUTE_POLL_MS = 250;

/** True when /proc/net/route has a default route (destination 00000000) on an interface that is up. */
export function hasDefaultRoute(routes: string): boolean {
  return routes.split('\n').slice(1).some((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === '00000000' && (Number.parseInt(f[3] ?? '0', 16) & 1) === 1;
  });
}

/** Waits for DHCP (systemd-networkd) up to ROUTE_WAIT_MS; apt then says what it cannot reach. */
async function waitForRoute(ctx: StepContext): Promise<boolean> {
  for (let waited = 0; ; waited += ROUTE_POLL_MS) {
    if (hasDefaultRoute(await readFile(at(ctx.system, '/proc/net/route'), 'utf8').catch(() => ''))) return true;
    if (waited >= ROUTE_WAIT_MS) return false;
    await ctx.system.sleep(ROUTE_POLL_MS);
  }
}

export async function installPackages(ctx: StepContext): Promise<void> {
  const packages = ctx.config.packages ?? [];
  if (packages.length === 0 && !ctx.config.package_update) return;
  await once(ctx, 'packages', 'packages', () =>
    tracked(ctx, 'packages', undefined, async () => {
      const routed = await waitForRoute(ctx);
      const opts = { env: cleanEnv('/root', { DEBIAN_FRONTEND: 'noninteractive' }), logAs: 'packages' };
      await runChecked(ctx.system, ['apt-get', 'update'], opts);
      if (packages.length > 0) await runChecked(ctx.system, ['apt-get', 'install', '-y', ...packages], opts);
      return routed ? undefined : `no default route after ${ROUTE_WAIT_MS / 1000} s; apt went ahead anyway`;
    }),
  );
}
