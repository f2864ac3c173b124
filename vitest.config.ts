import { defineConfig } from 'vitest/config';

// Files that measure CPU time or memory of a VM: they run last, one at a time, with nothing else on the host.
const SOLO = ['test/e2e/cpu-fairness.test.ts', 'test/e2e/metrics.test.ts', 'test/e2e/memory-limit.test.ts'];
const e2e = { testTimeout: 240_000, hookTimeout: 600_000, globalSetup: ['test/e2e/global-setup.ts'] };

// Unit tests sit beside the code. e2e tests boot real VMs under TCG: two files at a time (a TCG vCPU keeps one
// host core busy, and a lone file leaves the other mostly idle); images they share are built once (the build lock).
export default defineConfig({
  test: {
    maxWorkers: 2,
    projects: [
      // Hooks compile the native helpers with gcc: seconds each, more on a loaded CI host.
      { test: { name: 'unit', include: ['packages/*/src/**/*.test.ts'], testTimeout: 20_000, hookTimeout: 60_000 } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], exclude: SOLO, ...e2e } },
      // One fork for all of them runs them one after another (a project cannot set fileParallelism).
      { test: { name: 'e2e-solo', include: SOLO, poolOptions: { forks: { singleFork: true } }, sequence: { groupOrder: 1 }, ...e2e } },
    ],
  },
});
