import { describe, expect, it } from 'vitest';
import { QmpError } from './errors.js';
import { idSequence, parseMessage, serializeCommand } from './protocol.js';

describe('parseMessage', () => {
  it('classifies a real QEMU 7.2 greeting', () => {
    const line = '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2"}, "capabilities": ["oob"]}}\r';
    expect(parseMessage(line)).toEqual({
      kind: 'greeting',
      greeting: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'Debian 1:7.2' }, capabilities: ['oob'] },
    });
  });

  it('classifies returns, errors and events', () => {
    expect(parseMessage('{"return": {}, "id": "lodge-1"}')).toEqual({ kind: 'return', id: 'lodge-1', value: {} });
    expect(parseMessage('{"return": "text"}')).toEqual({ kind: 'return', id: undefined, value: 'text' });
    expect(parseMessage('{"error": {"class": "GenericError", "desc": "no"}, "id": "x"}')).toEqual({
      kind: 'error', id: 'x', error: { class: 'GenericError', desc: 'no' },
    });
    expect(parseMessage('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}')).toEqual({
      kind: 'event', event: { event: 'STOP', timestamp: { seconds: 1, microseconds: 2 } },
    });
    expect(parseMessage('{"event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}')).toEqual({
      kind: 'event', event: { event: 'SHUTDOWN', data: { guest: false, reason: 'host-qmp-quit' } },
    });
  });

  it.each([
    ['not json', /invalid JSON/],
    ['[1,2]', /expected a JSON object/],
    ['{"foo": 1}', /unrecognised message/],
    ['{"return": {}, "id": 7}', /non-string id/],
    ['{"error": {"class": "X"}, "id": "a"}', /unrecognised message/],
    ['{"QMP": {"capabilities": []}}', /greeting without a QEMU version/],
    ['{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}}}', /greeting without capabilities/],
  ])('rejects %s', (line, message) => {
    expect(() => parseMessage(line)).toThrow(message);
    expect(() => parseMessage(line)).toThrow(QmpError);
  });
});

describe('serializeCommand', () => {
  it('writes one line, escaping newlines inside values', () => {
    const line = serializeCommand({ execute: 'human-monitor-command', arguments: { 'command-line': 'a\nb "c"' }, id: 'q-1' });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    expect(JSON.parse(line)).toEqual({ execute: 'human-monitor-command', arguments: { 'command-line': 'a\nb "c"' }, id: 'q-1' });
  });

  it('omits absent arguments', () => {
    expect(serializeCommand({ execute: 'cont', arguments: undefined, id: 'a' })).toBe('{"execute":"cont","id":"a"}\n');
  });
});

describe('idSequence', () => {
  it('gives distinct string ids per sequence', () => {
    const next = idSequence();
    const ids = [next(), next(), next()];
    expect(new Set(ids).size).toBe(3);
    expect(idSequence()()).toBe(ids[0]);
  });
});
