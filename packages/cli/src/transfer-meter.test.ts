import { describe, expect, it } from 'vitest';
import { formatMB, TransferMeter } from './transfer-meter.js';

describe('TransferMeter', () => {
  it('shows progress against a known total and a summary with the rate', () => {
    let now = 1000;
    const meter = new TransferMeter(40e6, () => now);
    now += 2000;
    meter.bytes = 10e6;
    meter.files = 1;
    expect(meter.line()).toBe('10.0 MB of 40.0 MB (25%), 1 file, 5.0 MB/s');
    now += 2000;
    meter.bytes = 40e6;
    meter.files = 3;
    expect(meter.summary()).toBe('copied 3 files, 40.0 MB in 4.0 s (10.0 MB/s)');
    expect(meter.totals(5)).toEqual({ entries: 5, files: 3, bytes: 40e6, seconds: 4 });
  });

  it('copes with an unknown total and no time passed', () => {
    const meter = new TransferMeter(undefined, () => 0);
    expect(meter.line()).toBe('0.0 MB, 0 files, 0.0 MB/s');
    expect(formatMB(1_234_567)).toBe('1.2 MB');
  });
});
