import { describe, expect, it } from 'vitest';
import { LodgeError } from '@lodge/api';
import { formatError } from './error-printer.js';
import { UsageError } from './flag-values.js';

describe('formatError', () => {
  const refused = new LodgeError('invalid_state', 'cannot delete VM "t1": it is running', {
    hint: 'stop it first with: lodge stop t1',
    details: { vm: 't1' },
  });

  it('prints the message and the hint line on stderr, exit 1, nothing on stdout', () => {
    const out = formatError(refused, { json: false });
    expect(out.stderr).toBe('lodge: cannot delete VM "t1": it is running\n  hint: stop it first with: lodge stop t1\n');
    expect(out.stdout).toBeUndefined();
    expect(out.exitCode).toBe(1);
  });

  it('also prints the {"error": ...} envelope on stdout with --json', () => {
    const out = formatError(refused, { json: true });
    expect(JSON.parse(out.stdout ?? '')).toEqual({
      error: { code: 'invalid_state', message: 'cannot delete VM "t1": it is running', hint: 'stop it first with: lodge stop t1', details: { vm: 't1' } },
    });
    expect(out.stderr).toContain('lodge: cannot delete');
  });

  it('leaves out the hint line when there is none, and never shows a stack for a LodgeError', () => {
    const out = formatError(new LodgeError('not_found', 'VM "x" not found'), { json: false, debug: true });
    expect(out.stderr).toBe('lodge: VM "x" not found\n');
  });

  it("exits 127 or 126 when the guest could not start an exec's program, as sh and ssh do; 1 for other not_found", () => {
    const notFound = new LodgeError('not_found', 'nope: not found in the guest (PATH=/bin)', { details: { guestCode: 'not_found', shellStatus: 127 } });
    expect(formatError(notFound, { json: false })).toEqual({ stderr: 'lodge: nope: not found in the guest (PATH=/bin)\n', stdout: undefined, exitCode: 127 });
    expect(formatError(new LodgeError('invalid_argument', '/etc/passwd: permission denied in the guest', { details: { shellStatus: 126 } }), { json: false }).exitCode).toBe(126);
    // The same error from another copy of @lodge/api (the CLI's bundle) keeps its details.
    expect(formatError({ ...notFound.toJSON() }, { json: false }).exitCode).toBe(127);
    expect(formatError(new LodgeError('not_found', 'VM "x" does not exist'), { json: false }).exitCode).toBe(1);
    expect(formatError(new LodgeError('not_found', 'x', { details: { shellStatus: 3 } }), { json: false }).exitCode).toBe(1);
  });

  it('exits 2 for usage errors', () => {
    expect(formatError(new UsageError('--cpus "0" is not valid'), { json: false }).exitCode).toBe(2);
  });

  it('treats anything else as internal, with a stack only when debugging', () => {
    const bug = new TypeError('x is undefined');
    expect(formatError(bug, { json: false }).stderr).toBe('lodge: x is undefined\n');
    expect(formatError(bug, { json: false, debug: true }).stderr).toContain('at ');
    expect(JSON.parse(formatError(bug, { json: true }).stdout ?? '')).toEqual({ error: { code: 'internal', message: 'x is undefined' } });
  });

  it('recognises an error shaped like a LodgeError from another copy of the api package', () => {
    const foreign = Object.assign(new Error('cannot reach lodged'), { code: 'daemon_unreachable', hint: 'run: lodge daemon' });
    expect(formatError(foreign, { json: false }).stderr).toBe('lodge: cannot reach lodged\n  hint: run: lodge daemon\n');
  });
});
