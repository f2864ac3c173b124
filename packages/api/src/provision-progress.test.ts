import { describe, expect, it } from 'vitest';
import { parseProvisionLine } from './provision-progress.js';

const T = '2026-01-01T00:00:00Z';

describe('parseProvisionLine', () => {
  it('takes records and done lines, dropping unknown fields', () => {
    expect(parseProvisionLine(JSON.stringify({ time: T, step: 'script', name: '01-a', status: 'failed', exitCode: 3, output: 'o', extra: 1 })))
      .toEqual({ line: { time: T, step: 'script', name: '01-a', status: 'failed', exitCode: 3, output: 'o' } });
    expect(parseProvisionLine(JSON.stringify({ time: T, done: true, ok: true }))).toEqual({ line: { time: T, done: true, ok: true } });
  });

  it('refuses garbage, wrong shapes and oversized lines with a reason; a broken done line says so', () => {
    expect(parseProvisionLine('not json')).toEqual({ error: 'not JSON: "not json"' });
    expect(parseProvisionLine(JSON.stringify({ time: T, step: 'reboot', status: 'ok' }))).toMatchObject({ error: expect.stringMatching(/^not a progress record: step:/) });
    expect(parseProvisionLine(JSON.stringify({ time: T, done: true, ok: 'yes' }))).toMatchObject({ done: true, error: expect.stringMatching(/ok:/) });
    expect(parseProvisionLine(JSON.stringify({ time: T, step: 'script', status: 'ok', message: 'm'.repeat(40_000) }))).toEqual({ error: 'a progress line is over 32768 bytes' });
    expect(parseProvisionLine('null')).toMatchObject({ error: expect.stringMatching(/^not a progress record/) });
  });
});
