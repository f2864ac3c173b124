import { LodgeError, type ExecStart } from '@lodge/api';
import type { ExecSinks, GuestExecution } from '../ports/guest-channel.js';

/** The part of GuestService this needs (its exec). */
export interface GuestExec {
  exec(vm: string, start: ExecStart, sinks: ExecSinks): { execution: GuestExecution };
}

export interface GuestGrowth {
  /** The guest's device, e.g. /dev/vdb. */
  device: string;
  /** False when the device holds no ext2/3/4 file system (nothing to grow; the disk itself did grow). */
  grown: boolean;
  note?: string;
}

const SERIAL_BYTES = 20; // virtio-blk's serial length: the guest sees disk names cut to it
const EXEC_TIMEOUT_MS = 120_000;

/**
 * Runs in the guest's sh with $1 = serial, $2 = bytes the device must reach. Finds the device by its virtio serial
 * (root also by what is mounted at /), waits for the new size to show, then grows ext4 online when mounted, or
 * checks and grows it when not. Exit codes: 3 no such device, 4 size not seen, 5 no ext file system, 127 no resize2fs.
 */
export const GROW_SCRIPT = `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
serial=$1 want=$2 dev=
for f in /sys/block/vd*/serial; do
  s=; read -r s 2>/dev/null <"$f" # the serial has no newline: read says EOF but sets s
  [ "$s" = "$serial" ] && { d=\${f%/serial}; dev=\${d##*/}; break; }
done
if [ -z "$dev" ] && [ "$serial" = root ]; then
  while read -r src mnt rest; do [ "$mnt" = / ] && case $src in /dev/vd*) dev=\${src#/dev/} ;; esac; done </proc/mounts
fi
[ -n "$dev" ] || exit 3
echo "/dev/$dev"
command -v resize2fs >/dev/null || exit 127
n=0
while read -r sectors </sys/block/$dev/size && [ $((sectors * 512)) -lt "$want" ]; do
  n=$((n + 1)); [ $n -gt 100 ] && exit 4; usleep 50000
done
mounted=
while read -r src mnt rest; do [ "$src" = "/dev/$dev" ] && mounted=$mnt; done </proc/mounts
if [ -z "$mounted" ]; then
  dumpe2fs -h "/dev/$dev" >/dev/null 2>&1 || exit 5
  e2fsck -f -p "/dev/$dev" >&2 || [ $? -le 1 ] || exit 6
fi
resize2fs "/dev/$dev" >&2
`;

/**
 * After a live grow (runtime.resizeDisk): grows the file system on the disk inside the guest, through its agent.
 * `disk` is "root" or an extra disk's name; `sizeBytes` is the disk's new size.
 */
export async function growGuestFileSystem(guests: GuestExec, vm: string, disk: string, sizeBytes: number): Promise<GuestGrowth> {
  const serial = disk.slice(0, SERIAL_BYTES);
  const out = { 1: '', 2: '' };
  let execution: GuestExecution;
  try {
    ({ execution } = guests.exec(vm, { argv: ['sh', '-c', GROW_SCRIPT, 'sh', serial, String(sizeBytes)], timeoutMs: EXEC_TIMEOUT_MS }, {
      output: (ch, chunk, done) => ((out[ch] += chunk.toString()), done()),
    }));
  } catch (err) {
    const e = LodgeError.from(err);
    throw new LodgeError(e.code, `disk "${disk}" of VM "${vm}" grew, but its file system in the guest was not grown: ${e.message}`, { hint: e.hint, cause: err });
  }
  const result = await execution.result;
  const device = out[1].trim().split('\n')[0] ?? '';
  const said = out[2].trim().split('\n').slice(-3).join(' | ');
  if (result.exitCode === 0) return { device, grown: true };
  if (result.exitCode === 5) return { device, grown: false, note: `${device} holds no ext2/3/4 file system: the disk grew, its contents were left as they are` };
  const why = failure(result.exitCode, { disk, serial, device, said, timedOut: result.timedOut });
  throw new LodgeError(why.code, `disk "${disk}" of VM "${vm}" grew, but its file system in the guest was not grown: ${why.message}`, { hint: why.hint });
}

function failure(code: number | null, c: { disk: string; serial: string; device: string; said: string; timedOut: boolean }): { code: 'not_found' | 'invalid_state' | 'timeout' | 'internal'; message: string; hint?: string } {
  if (c.timedOut) return { code: 'timeout', message: `the guest's resize did not finish within ${EXEC_TIMEOUT_MS / 1000} s` };
  switch (code) {
    case 3: return { code: 'not_found', message: `the guest has no virtio disk with serial "${c.serial}"`, hint: 'the guest sees disks by their serial in /sys/block/vd*/serial' };
    case 4: return { code: 'timeout', message: `the guest still sees ${c.device} at its old size after 5 s` };
    case 127: return { code: 'invalid_state', message: 'the guest has no resize2fs', hint: 'install e2fsprogs in the guest, or grow the file system by hand' };
    case 6: return { code: 'internal', message: `e2fsck found errors on ${c.device}: ${c.said}`, hint: `check it in the guest: e2fsck -f ${c.device}` };
    default: return { code: 'internal', message: `resize2fs on ${c.device || c.disk} failed (exit ${code}): ${c.said}` };
  }
}

/**
 * GuestFollowUp.growFilesystem: grows the guest's file system on the disk, or says why not as a note for the user.
 * Never throws: the disk itself did grow, and the spec must record it.
 */
export async function growFilesystemNote(guests: GuestExec, vm: string, disk: string, sizeBytes: () => Promise<number>): Promise<string | undefined> {
  try {
    const growth = await growGuestFileSystem(guests, vm, disk, await sizeBytes());
    return growth.grown ? undefined : growth.note;
  } catch (err) {
    const e = LodgeError.from(err);
    return e.hint ? `${e.message} (${e.hint})` : e.message;
  }
}
