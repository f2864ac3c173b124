import { describe, expect, it } from 'vitest';
import { formatSize, parseSize } from './size.js';
import { VmCreateRequest } from './vm-spec.js';

describe('sizes', () => {
  it.each([
    ['512M', 512 * 2 ** 20],
    ['4G', 4 * 2 ** 30],
    ['1.5G', 1.5 * 2 ** 30],
    ['2GiB', 2 * 2 ** 30],
    ['100', 100],
    [4096, 4096],
  ])('parses %s', (input, bytes) => expect(parseSize(input)).toBe(bytes));
  it.each(['-5M', 'lots', '4X', '', -1, 1.5])('refuses %s with a message', (input) => expect(typeof parseSize(input)).toBe('string'));
  it('formats back to what it parses', () => {
    for (const s of ['512M', '4G', '1.5G', '1T']) expect(formatSize(parseSize(s) as number)).toBe(s);
  });
});

describe('VmCreateRequest', () => {
  it('fills defaults', () => {
    expect(VmCreateRequest.parse({ name: 'a' })).toEqual({ name: 'a', image: 'micro', cpus: 1, memory: 512 * 2 ** 20, disk: 4 * 2 ** 30, machine: 'q35', users: [], packages: [], files: [], provision: [] });
  });
  it.each(['', 'A', '1a', 'a_b', 'a'.repeat(64), 'a b', '../x'])('refuses the name %j', (name) => {
    expect(VmCreateRequest.safeParse({ name }).success).toBe(false);
  });
  it('accepts the longest name', () => expect(VmCreateRequest.safeParse({ name: 'a'.repeat(63) }).success).toBe(true));
  it.each([
    [{ cpus: 0 }, 'cpus'],
    [{ cpus: 1.5 }, 'cpus'],
    [{ memory: '1M' }, 'memory must be between 64M and 1T'],
    [{ memory: '2T' }, 'memory'],
    [{ disk: '-1G' }, 'disk'],
    [{ machine: 'virt' }, 'machine'],
    [{ memroy: '1G' }, 'memroy'],
  ])('refuses %j', (extra, text) => {
    const r = VmCreateRequest.safeParse({ name: 'a', ...extra });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain(text);
  });
});
