import { describe, expect, it } from 'vitest';
import { DETACH_KEY, scanForDetach } from './detach-scanner.js';

describe('scanForDetach', () => {
  it('passes a chunk without the detach key through whole', () => {
    const chunk = Buffer.from('uname -a\r');
    expect(scanForDetach(chunk)).toEqual({ send: chunk, detach: false });
  });

  it('sends the bytes before Ctrl-] in the middle of a chunk and nothing after it', () => {
    const { send, detach } = scanForDetach(Buffer.from([0x6c, 0x73, DETACH_KEY, 0x0d, 0x78]));
    expect(detach).toBe(true);
    expect([...send]).toEqual([0x6c, 0x73]);
  });

  it('sends nothing when Ctrl-] comes first, and stops at the first of several', () => {
    expect(scanForDetach(Buffer.from([DETACH_KEY, 0x61])).send.length).toBe(0);
    expect([...scanForDetach(Buffer.from([0x61, DETACH_KEY, 0x62, DETACH_KEY])).send]).toEqual([0x61]);
  });

  it('leaves Ctrl-C (0x03) to the guest', () => {
    expect(scanForDetach(Buffer.from([0x03]))).toEqual({ send: Buffer.from([0x03]), detach: false });
  });
});
