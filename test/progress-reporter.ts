import type { Reporter, TestCase, TestModule } from 'vitest/node';

// Prints each e2e file as it starts and each of its tests as it ends, with the run's elapsed time, so a CI log cut
// short still shows what was running.
const t0 = Date.now();
const at = (): string => `[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s]`;
const rel = (id: string): string => id.slice(id.indexOf('/test/') + 1);
// Unit files end within seconds; only the VM tests are worth a line each.
const followed = (x: TestModule | TestCase): boolean => x.project.name !== 'unit';

export default class ProgressReporter implements Reporter {
  onTestModuleStart(m: TestModule): void {
    if (followed(m)) process.stdout.write(`${at()} start ${rel(m.moduleId)}\n`);
  }
  onTestModuleEnd(m: TestModule): void {
    if (followed(m)) process.stdout.write(`${at()} end ${rel(m.moduleId)}: ${m.state()} in ${Math.round(m.diagnostic().duration / 1000)} s\n`);
  }
  onTestCaseResult(c: TestCase): void {
    if (!followed(c)) return;
    const r = c.result();
    const why = r.state === 'failed' ? `: ${(r.errors[0]?.message ?? '').split('\n')[0]}` : '';
    process.stdout.write(`${at()}   ${r.state} ${c.fullName} (${Math.round(c.diagnostic()?.duration ?? 0)} ms)${why}\n`);
  }
}
