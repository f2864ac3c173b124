import { describe, expect, it } from 'vitest';
import { LodgeError, type LodgeEventBody, type VmSpec } from '@lodge/api';
import type { ProvisionLine } from '@lodge/api/guest';
import type { FileRange, FileWindow } from '../ports/guest-channel.js';
import { followProvisioning, type ProvisionWatch } from './first-boot-watch.js';
import { provisionDeadlineSec } from './provision-limits.js';

const script = (name: string, timeout = 600): VmSpec['provision'][number] => ({ name, mode: 'system', run: 'once', script: 'true', timeout });
const SPEC = { provision: [script('setup'), script('app', 5), script('late')], packages: [] as string[] };
const T = '2026-01-01T00:00:00.000Z';
const line = (l: Omit<ProvisionLine, 'time'> | object): string => `${JSON.stringify({ time: T, ...l })}\n`;
const DONE_OK = line({ done: true, ok: true });

/** The guest's progress file: `script` says what it holds after each read (by read count); bytes read are counted. */
class FakeGuestFile {
  content = Buffer.alloc(0);
  reads = 0;
  bytesServed = 0;
  missing = true;
  constructor(private readonly script: (file: FakeGuestFile, read: number) => void = () => undefined) {}
  append(text: string | Buffer): void {
    this.missing = false;
    this.content = Buffer.concat([this.content, Buffer.from(text)]);
  }
  read = async (range: FileRange): Promise<FileWindow> => {
    this.script(this, this.reads++);
    if (this.missing) throw new LodgeError('not_found', 'no such file');
    const data = this.content.subarray(range.offset, range.offset + range.maxBytes);
    this.bytesServed += data.length;
    return { data, size: this.content.length };
  };
}

function watch(file: FakeGuestFile, o: Partial<ProvisionWatch> = {}) {
  let clock = 0;
  const events: Extract<LodgeEventBody, { type: 'vm.provision' }>[] = [];
  const steps: string[] = [];
  const warnings: object[] = [];
  const run = followProvisioning({
    vm: 'web', spec: SPEC, read: file.read, publish: (e) => events.push(e), progress: (p) => steps.push(p.step), stateOf: () => 'running',
    log: { info: () => undefined, warn: (obj) => warnings.push(obj) },
    now: () => clock, sleep: async (ms) => void (clock += ms), ...o,
  });
  return { run, events, steps, warnings, elapsed: () => clock };
}

describe('followProvisioning', () => {
  it('turns each record into an event and a progress step, and succeeds on done ok', async () => {
    const file = new FakeGuestFile((f, n) => {
      if (n === 0) f.append(line({ step: 'packages', status: 'started' }));
      if (n === 1) f.append(line({ step: 'packages', status: 'ok' }) + line({ step: 'script', name: '02-app', status: 'started' }));
      if (n === 2) f.append(line({ step: 'script', name: '02-app', status: 'ok' }) + DONE_OK);
    });
    const w = watch(file);
    await w.run;
    expect(w.steps).toContain('provisioning: installing packages');
    expect(w.steps).toContain('provisioning: script app (2/3)');
    expect(w.steps).toContain('provisioning: script app (2/3): ok');
    expect(w.steps.at(-1)).toBe('provisioning: done');
    expect(w.events.map((e) => `${e.step}:${e.name ?? ''}:${e.status}`)).toEqual(['packages::started', 'packages::ok', 'script:app:started', 'script:app:ok', 'done::ok']);
  });

  it('parses only complete lines: a record split across reads is taken once whole', async () => {
    const whole = line({ step: 'users', name: 'alice', status: 'ok' });
    const file = new FakeGuestFile((f, n) => {
      if (n === 0) f.append(whole.slice(0, 10));
      if (n === 1) f.append(whole.slice(10, 30));
      if (n === 2) f.append(whole.slice(30) + DONE_OK.slice(0, 5));
      if (n === 3) f.append(DONE_OK.slice(5));
    });
    const w = watch(file);
    await w.run;
    expect(w.events.map((e) => e.step)).toEqual(['users', 'done']);
    expect(w.warnings).toEqual([]);
  });

  it('skips a garbage line with a warning and goes on', async () => {
    const file = new FakeGuestFile((f, n) => n === 0 && f.append(`not json\n${line({ step: 'bogus', status: 'ok' })}${line({ step: 'hostname', status: 'ok' })}${DONE_OK}`));
    const w = watch(file);
    await w.run;
    expect(w.warnings).toHaveLength(2);
    expect(w.events.map((e) => e.step)).toEqual(['hostname', 'done']);
  });

  it('fails on a line over the size limit without holding it', async () => {
    const file = new FakeGuestFile((f, n) => f.append(n === 0 ? '{"time":"' : 'x'.repeat(20_000)));
    const w = watch(file);
    await expect(w.run).rejects.toMatchObject({ code: 'provision_failed', message: expect.stringMatching(/line over 32768 bytes/) });
  });

  it('stops following a flood: memory is bounded by the read window and the report by its limit', async () => {
    const file = new FakeGuestFile((f) => f.append(line({ step: 'files', name: '/x', status: 'started' }).repeat(2000)));
    const w = watch(file, { limits: { maxReportBytes: 1 << 20, maxRecords: 1e9 } });
    await expect(w.run).rejects.toMatchObject({ code: 'provision_failed', message: expect.stringMatching(/over 1048576 bytes of provisioning report/) });
    expect(file.bytesServed).toBeLessThanOrEqual((1 << 20) + 64 * 1024);
  });

  it('fails with the script, its exit code and its output when a record failed', async () => {
    const file = new FakeGuestFile((f) => f.reads === 1 && f.append(
      line({ step: 'script', name: '01-setup', status: 'started' }) +
      line({ step: 'script', name: '01-setup', status: 'failed', exitCode: 3, output: 'step one\nboom: it broke\n' }) +
      line({ done: true, ok: false, message: 'script 01-setup: exited with 3' }),
    ));
    const w = watch(file);
    const err = (await w.run.catch((e: unknown) => e)) as LodgeError;
    expect(err.code).toBe('provision_failed');
    expect(err.message).toMatch(/^provisioning of VM "web" failed: script "setup" exited with code 3\n/);
    expect(err.message.split('\n').at(-1)).toBe('  | boom: it broke');
    expect(err.details).toMatchObject({ step: 'script', name: 'setup', exitCode: 3, output: 'step one\nboom: it broke\n' });
    expect(err.hint).toMatch(/lodge exec web -- cat \/var\/log\/lodge-provision.log/);
    expect(err.hint).toMatch(/lodge restart web/);
    expect(w.events.at(-1)).toMatchObject({ step: 'done', status: 'failed' });
  });

  it('takes messages that quote a long output line, as the provisioner writes them (up to the line bound)', async () => {
    const x = 'x'.repeat(12_000);
    const message = `/var/lib/lodge/provision/scripts/01-setup exited with 7: ${x} / flaky-end`;
    const file = new FakeGuestFile((f) => f.reads === 1 && f.append(
      line({ step: 'script', name: '01-setup', status: 'failed', message, exitCode: 7, output: `${x.slice(-8180)}\nflaky-end\n` }) +
      line({ done: true, ok: false, message: `script 01-setup: ${message}` }),
    ));
    const w = watch(file);
    const err = (await w.run.catch((e: unknown) => e)) as LodgeError;
    expect(err.message).toMatch(/^provisioning of VM "web" failed: script "setup" exited with code 7\n/);
    expect(err.message.endsWith('  | flaky-end')).toBe(true);
    expect(w.warnings).toEqual([]);
    expect(w.steps.at(-1)).toBe('provisioning: script setup (1/3): failed (exited with code 7)');
  });

  it('fails at once on a malformed done line instead of waiting for the deadline', async () => {
    const file = new FakeGuestFile((f) => f.reads === 1 && f.append(line({ done: true, ok: 'yes' })));
    const w = watch(file);
    await expect(w.run).rejects.toThrow(/ended its provisioning report with a malformed line \(not a progress record: ok:/);
    expect(w.elapsed()).toBeLessThan(5_000);
  });

  it('says a timed-out script ran past its own timeout', async () => {
    const file = new FakeGuestFile((f) => f.reads === 1 && f.append(line({ step: 'script', name: '02-app', status: 'failed', timedOut: true, exitCode: 124 }) + line({ done: true, ok: false })));
    await expect(watch(file).run).rejects.toThrow(/script "app" timed out after 5 s/);
  });

  it('fails when the guest never writes its report', async () => {
    const w = watch(new FakeGuestFile(), { limits: { firstReportMs: 30_000 } });
    await expect(w.run).rejects.toMatchObject({ code: 'provision_failed', message: expect.stringMatching(/did not report any provisioning within 30 s .*does not exist/) });
    expect(w.elapsed()).toBeGreaterThan(30_000);
    expect(w.elapsed()).toBeLessThan(32_000);
  });

  it('fails at the deadline derived from the spec when the guest stops reporting', async () => {
    const file = new FakeGuestFile((f, n) => n === 0 && f.append(line({ step: 'script', name: '03-late', status: 'started' })));
    const w = watch(file);
    const deadline = provisionDeadlineSec(SPEC);
    expect(deadline).toBe(300 + 600 + 5 + 600);
    await expect(w.run).rejects.toThrow(new RegExp(`did not finish within ${deadline} s; the last step reported: script late \\(3/3\\) \\(started\\)`));
    expect(w.elapsed()).toBeLessThan(deadline * 1000 + 1000);
  });

  it('follows a report that started over (the provisioner ran again)', async () => {
    const file = new FakeGuestFile((f, n) => {
      if (n === 0) f.append(line({ step: 'hostname', status: 'started' }) + line({ step: 'hostname', status: 'ok' }));
      if (n === 1) f.content = Buffer.from(line({ step: 'seed', status: 'ok' }));
      if (n === 3) f.append(DONE_OK);
    });
    const w = watch(file);
    await w.run;
    expect(w.events.map((e) => e.step)).toEqual(['hostname', 'hostname', 'seed', 'done']);
  });

  it('gives up when the VM stops', async () => {
    let state: 'running' | 'stopped' = 'running';
    const file = new FakeGuestFile((_f, n) => void (n === 2 && (state = 'stopped')));
    await expect(watch(file, { stateOf: () => state }).run).rejects.toMatchObject({ code: 'invalid_state' });
  });

  it('counts package room into the deadline', () => {
    expect(provisionDeadlineSec({ provision: [], packages: [] })).toBe(300);
    expect(provisionDeadlineSec({ provision: [], packages: ['a', 'b'] })).toBe(300 + 900 + 120);
  });
});
