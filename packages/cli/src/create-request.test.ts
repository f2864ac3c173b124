import { describe, expect, it } from 'vitest';
import { createRequestFrom } from './create-request.js';
import { usageFailure } from './usage-failure.js';

const failure = usageFailure;

describe('createRequestFrom', () => {
  it('sends only the given fields, sizes in bytes, so the daemon keeps its defaults', () => {
    expect(createRequestFrom('t1', {})).toEqual({ name: 't1' });
    expect(createRequestFrom('t1', { image: 'micro', cpus: '2', memory: '1G', disk: '8G', machine: 'microvm' })).toEqual({
      name: 't1',
      image: 'micro',
      cpus: 2,
      memory: 2 ** 30,
      disk: 8 * 2 ** 30,
      machine: 'microvm',
    });
  });

  it.each([['0'], ['1.5'], ['two'], ['-1'], ['']])('rejects --cpus %j naming the flag and value', (cpus) => {
    const err = failure(() => createRequestFrom('t1', { cpus }));
    expect(err.message).toContain('--cpus');
    expect(err.message).toContain(`"${cpus}"`);
    expect(err.code).toBe('invalid_argument');
  });

  it('rejects a size it cannot read, naming the flag and value', () => {
    const err = failure(() => createRequestFrom('t1', { memory: '12X' }));
    expect(err.message).toMatch(/^--memory: size "12X" is not understood/);
  });

  it('checks bounds, machine and name with the wire schema before any request', () => {
    expect(failure(() => createRequestFrom('t1', { memory: '1M' })).message).toBe('--memory "1M" is not valid: memory must be between 64M and 1T, got 1M');
    expect(failure(() => createRequestFrom('t1', { cpus: '65' })).message).toContain('--cpus "65"');
    expect(failure(() => createRequestFrom('t1', { machine: 'virt' })).message).toContain('--machine "virt"');
    expect(failure(() => createRequestFrom('Bad_Name', {})).message).toContain('VM name "Bad_Name"');
    expect(failure(() => createRequestFrom('t1', { image: 'UPPER' })).message).toContain('--image "UPPER"');
  });
});
