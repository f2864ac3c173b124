import { expect, it } from 'vitest';
import { RelayRecords } from './relay-records.js';

function record(bytes: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32LE(bytes.length);
  return Buffer.concat([header, bytes]);
}

it('splits records, end-of-file marks and events however the chunks cut them', () => {
  const event = Buffer.concat([Buffer.from([5, 0, 0, 0x80]), Buffer.from('GO! 1')]);
  const stream = Buffer.concat([record(Buffer.from('hello')), record(Buffer.alloc(0)), record(Buffer.from('again, longer')), event, record(Buffer.from('!'))]);
  for (let cut = 0; cut <= stream.length; cut++) {
    for (let cut2 = cut; cut2 <= stream.length; cut2++) {
      const events: string[] = [];
      let text = '';
      const flush = (): void => {
        if (text) events.push(text);
        text = '';
      };
      const records = new RelayRecords({ onData: (b) => (text += b.toString()), onEof: () => (flush(), events.push('EOF')), onEvent: (t) => (flush(), events.push(`event ${t}`)) });
      for (const part of [stream.subarray(0, cut), stream.subarray(cut, cut2), stream.subarray(cut2)]) records.push(part);
      flush();
      expect(events, `cuts at ${cut}, ${cut2}`).toEqual(['hello', 'EOF', 'again, longer', 'event GO! 1', '!']);
    }
  }
});

it('forgets a record cut short when reset (a relay died mid-record)', () => {
  const got: string[] = [];
  const records = new RelayRecords({ onData: (b) => got.push(b.toString()), onEof: () => got.push('EOF'), onEvent: (t) => got.push(t) });
  records.push(record(Buffer.from('partial')).subarray(0, 7));
  records.reset();
  records.push(record(Buffer.from('next')));
  expect(got).toEqual(['par', 'next']);
});
