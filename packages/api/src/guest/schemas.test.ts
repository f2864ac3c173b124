import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_BYTES } from './contract.js';
import {
  ExecControlFromGuestSchema, ExecResultSchema, FileEntrySchema, FilesControlSchema, FilesResultSchema, GuestErrorSchema,
  GuestInfoSchema, HelloSchema, PublishRequestSchema, PublishResultSchema, TimeSetResultSchema,
} from './schemas.js';

const info = {
  os: { id: 'debian', name: 'Debian GNU/Linux', version: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  kernel: { release: '6.1.0-18-amd64', version: '#1 SMP', machine: 'x86_64' },
  hostname: 'vm1',
  uptimeS: 12.5,
  load: [0.1, 0.05, 0],
  memory: { totalBytes: 512 * 2 ** 20, availableBytes: 400 * 2 ** 20 },
  disks: [{ mount: '/', fs: 'ext4', totalBytes: 4e9, usedBytes: 1e9 }],
  addresses: [{ iface: 'eth0', family: 'ipv6', address: 'fe80::1%eth0' }],
  agent: { version: '0.1.0', pid: 120, node: 'v18.19.0' },
  timeMs: Date.now(),
};
const entry = { path: 'dir/file.txt', kind: 'file', mode: 0o644, size: 10, mtimeMs: 1.7e12 };

describe('guest schemas', () => {
  it('accept what a well-behaved agent sends', () => {
    expect(HelloSchema.parse({ protocol: 1, role: 'guest', session: '0123456789abcdef', agent: { version: '0.1.0', pid: 7 }, timeMs: 1 })).toBeTruthy();
    expect(HelloSchema.safeParse({ protocol: 2, role: 'guest', session: '0123456789abcdef' }).success).toBe(true); // the engine answers the mismatch
    expect(GuestErrorSchema.parse({ code: 'not_found', message: 'no such file' })).toBeTruthy();
    expect(GuestErrorSchema.parse({ code: 'not_found', message: 'x: not found', shellStatus: 127 })).toBeTruthy();
    expect(ExecControlFromGuestSchema.parse({ type: 'started', pid: 99 })).toEqual({ type: 'started', pid: 99 });
    expect(ExecResultSchema.parse({ exitCode: null, signal: 'SIGKILL', timedOut: true })).toBeTruthy();
    expect(GuestInfoSchema.parse(info)).toEqual(info);
    expect(TimeSetResultSchema.parse({ offsetMs: -1500.5 })).toBeTruthy();
    expect(FileEntrySchema.parse(entry)).toEqual(entry);
    expect(FileEntrySchema.parse({ ...entry, kind: 'symlink', size: 0, target: '/etc/passwd' })).toBeTruthy();
    expect(FilesControlSchema.parse({ type: 'entry', ...entry })).toEqual({ type: 'entry', ...entry });
    expect(FilesResultSchema.parse({ entries: 3, bytes: 10 })).toBeTruthy();
    expect(PublishRequestSchema.parse({ op: 'bus.publish', topic: 'jobs/done', replyTo: '_inbox.x1', size: MAX_MESSAGE_BYTES })).toBeTruthy();
    expect(PublishRequestSchema.parse({ op: 'bus.publish', topic: '_inbox.x1', size: 0 })).toBeTruthy(); // a reply
    expect(PublishResultSchema.parse({ delivered: 2 })).toBeTruthy();
  });

  it.each([
    ['a bad session id', HelloSchema, { protocol: 1, role: 'guest', session: 'xyz' }],
    ['an unknown error code', GuestErrorSchema, { code: 'oops', message: '' }],
    ['a shell status other than 126 and 127', GuestErrorSchema, { code: 'not_found', message: '', shellStatus: 1 }],
    ['a host-only exec control', ExecControlFromGuestSchema, { type: 'signal', signal: 'SIGINT' }],
    ['a fractional exit code', ExecResultSchema, { exitCode: 1.5, signal: null, timedOut: false }],
    ['an exit code over 255', ExecResultSchema, { exitCode: 256, signal: null, timedOut: false }],
    ['too many disks', GuestInfoSchema, { ...info, disks: Array(257).fill(info.disks[0]) }],
    ['a huge hostname', GuestInfoSchema, { ...info, hostname: 'h'.repeat(300) }],
    ['a non-finite offset', TimeSetResultSchema, { offsetMs: Infinity }],
    ['an absolute path', FileEntrySchema, { ...entry, path: '/etc/passwd' }],
    ['a .. component', FileEntrySchema, { ...entry, path: 'a/../../b' }],
    ['an empty component', FileEntrySchema, { ...entry, path: 'a//b' }],
    ['a path over 4096', FileEntrySchema, { ...entry, path: 'a'.repeat(4097) }],
    ['a negative size', FileEntrySchema, { ...entry, size: -1 }],
    ['an entry without type', FilesControlSchema, entry],
    ['a bad topic', PublishRequestSchema, { op: 'bus.publish', topic: '../x', size: 1 }],
    ['a bad inbox', PublishRequestSchema, { op: 'bus.publish', topic: 't', replyTo: '_inbox.', size: 1 }],
    ['an oversize message', PublishRequestSchema, { op: 'bus.publish', topic: 't', size: MAX_MESSAGE_BYTES + 1 }],
    ['a negative delivery count', PublishResultSchema, { delivered: -1 }],
  ])('refuse %s', (_, schema, value) => {
    expect((schema as { safeParse(v: unknown): { success: boolean } }).safeParse(value).success).toBe(false);
  });
});
