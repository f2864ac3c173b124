import { LodgeError, type ExecStart } from '@lodge/api';
import { describe, expect, it } from 'vitest';
import type { ExecSinks, GuestExecution } from '../ports/guest-channel.js';
import { growFilesystemNote, growGuestFileSystem, type GuestExec } from './guest-disks.js';

// A fake guest at the GuestService seam: answers the grow script with a chosen exit code and output.
function guest(exitCode: number, stdout = '/dev/vdb\n', stderr = ''): GuestExec & { starts: ExecStart[] } {
  const starts: ExecStart[] = [];
  return {
    starts,
    exec(_vm: string, start: ExecStart, sinks: ExecSinks) {
      starts.push(start);
      sinks.output(1, Buffer.from(stdout), () => undefined);
      if (stderr) sinks.output(2, Buffer.from(stderr), () => undefined);
      return { execution: { result: Promise.resolve({ exitCode, signal: null, timedOut: false }) } as unknown as GuestExecution };
    },
  };
}

describe('growGuestFileSystem', () => {
  it('runs the script with the serial (cut to 20 bytes) and the new size, and reports the device', async () => {
    const g = guest(0);
    expect(await growGuestFileSystem(g, 'web', 'a-very-long-disk-name-here', 2 ** 31)).toEqual({ device: '/dev/vdb', grown: true });
    expect(g.starts[0]?.argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(g.starts[0]?.argv.slice(3)).toEqual(['sh', 'a-very-long-disk-nam', String(2 ** 31)]);
  });

  it('says when there is nothing to grow', async () => {
    expect(await growGuestFileSystem(guest(5), 'web', 'data', 2 ** 30)).toMatchObject({ grown: false, note: expect.stringMatching(/no ext2\/3\/4 file system/) });
  });

  it('names what is missing: the device, resize2fs, the agent', async () => {
    await expect(growGuestFileSystem(guest(3, ''), 'web', 'data', 1)).rejects.toMatchObject({ code: 'not_found', message: expect.stringMatching(/no virtio disk with serial "data"/) });
    await expect(growGuestFileSystem(guest(127), 'web', 'data', 1)).rejects.toMatchObject({ code: 'invalid_state', message: expect.stringMatching(/the guest has no resize2fs/), hint: expect.stringMatching(/e2fsprogs/) });
    await expect(growGuestFileSystem(guest(1, '/dev/vdb\n', 'resize2fs: Bad magic\n'), 'web', 'data', 1)).rejects.toThrow(/resize2fs on \/dev\/vdb failed \(exit 1\): resize2fs: Bad magic/);
    const noAgent: GuestExec = { exec: () => { throw new LodgeError('invalid_state', 'the guest agent of VM "web" is not connected'); } };
    await expect(growGuestFileSystem(noAgent, 'web', 'data', 1)).rejects.toMatchObject({
      code: 'invalid_state', message: 'disk "data" of VM "web" grew, but its file system in the guest was not grown: the guest agent of VM "web" is not connected',
    });
  });

  it('as a follow-up note: nothing on success, the reason otherwise, never a throw', async () => {
    const size = async (): Promise<number> => 2 ** 30;
    expect(await growFilesystemNote(guest(0), 'web', 'data', size)).toBeUndefined();
    expect(await growFilesystemNote(guest(127), 'web', 'data', size)).toMatch(/the guest has no resize2fs \(install e2fsprogs/);
    expect(await growFilesystemNote(guest(0), 'web', 'data', () => Promise.reject(new Error('no file')))).toBe('no file');
  });
});
