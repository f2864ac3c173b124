import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROVISION_RECORD_MAX_BYTES } from '@lodge/api/guest';
import { hostsWith } from './hostname-step.js';
import { OutputTail, tailText } from './output-tail.js';
import { hasDefaultRoute } from './package-step.js';
import { ProgressFile, recordLine } from './progress-file.js';

describe('progress file', () => {
  it('starts empty and gets one JSON line per record, the done line last', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lodge-progress-'));
    try {
      const file = join(dir, 'run/lodge/provision.jsonl');
      const echoed: string[] = [];
      const progress = new ProgressFile(file, (l) => echoed.push(l), () => new Date(0));
      await progress.open();
      await progress.record({ step: 'hostname', name: 'box', status: 'started' });
      await progress.done(true);
      const text = await readFile(file, 'utf8');
      expect(text).toBe(
        '{"time":"1970-01-01T00:00:00.000Z","step":"hostname","name":"box","status":"started"}\n{"time":"1970-01-01T00:00:00.000Z","done":true,"ok":true}\n',
      );
      expect(echoed).toEqual(text.trim().split('\n'));
      await progress.open();
      expect(await readFile(file, 'utf8')).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('cuts output (from its start) so a line fits the host limit, even when escaping makes it larger', () => {
    const output = `${'\u0001'.repeat(8000)}the end`;
    const line = recordLine({ time: 't', step: 'script', name: 's', status: 'failed', output, exitCode: 1 });
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(PROVISION_RECORD_MAX_BYTES);
    expect(JSON.parse(line).output.endsWith('the end')).toBe(true);
    expect(JSON.parse(line).exitCode).toBe(1);
    const small = { time: 't', step: 'script' as const, status: 'failed' as const, output: 'short' };
    expect(recordLine(small)).toBe(JSON.stringify(small));
  });
});

describe('output tail', () => {
  it('keeps the last bytes across chunks, starting on a character boundary', () => {
    const tail = new OutputTail(8);
    for (const c of ['abc', 'def', 'ghi', 'jkl']) tail.push(Buffer.from(c));
    expect(tail.bytes().toString()).toBe('efghijkl');
    expect(tailText(Buffer.from('aé€z'), 4)).toBe('€z');
    expect(tailText(Buffer.from('abc'), 8)).toBe('abc');
  });
});

describe('hostname and route helpers', () => {
  it('sets the 127.0.1.1 line of /etc/hosts, adding one after 127.0.0.1 when missing', () => {
    expect(hostsWith('127.0.0.1 localhost\n127.0.1.1 lodge\n::1 localhost\n', 'box')).toBe('127.0.0.1 localhost\n127.0.1.1 box\n::1 localhost\n');
    expect(hostsWith('127.0.0.1 localhost\n::1 localhost', 'box')).toBe('127.0.0.1 localhost\n127.0.1.1 box\n::1 localhost\n');
    expect(hostsWith('', 'box')).toBe('127.0.1.1 box\n');
  });

  it('sees a default route only on an interface that is up', () => {
    const head = 'Iface\tDestination\tGateway\tFlags\tRefCnt\n';
    expect(hasDefaultRoute(`${head}ens3\t00000000\t0202000A\t0003\t0\n`)).toBe(true);
    expect(hasDefaultRoute(`${head}ens3\t0002000A\t00000000\t0001\t0\n`)).toBe(false);
    expect(hasDefaultRoute(`${head}ens3\t00000000\t0202000A\t0002\t0\n`)).toBe(false);
    expect(hasDefaultRoute('')).toBe(false);
  });
});
