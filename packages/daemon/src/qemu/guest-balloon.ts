import { formatSize, LodgeError } from '@lodge/api';
import { balloon, balloonStats, queryBalloon, queryMemorySizeSummary, qomSet, type QmpMonitor } from '../qmp/index.js';
import { BALLOON_QOM_PATH } from './guest-argv.js';

/**
 * The lowest balloon target: the micro guest (kernel, busybox, Node agent) runs in ~90 MiB; 128 MiB leaves it room
 * for page cache and exec. A guest that uses more now gets its in-use memory as the floor instead.
 */
export const MEMORY_FLOOR_BYTES = 128 * 2 ** 20;
/** Seconds between the guest's balloon statistics reports (cheap: one virtqueue message). */
export const STATS_INTERVAL_S = 2;

export interface GuestMemory {
  balloonBytes?: number;
  guestMem?: { totalBytes: number; availableBytes: number };
}

/** The guest's RAM through the virtio balloon: live target, statistics, and the limits a target must respect. */
export class GuestBalloon {
  constructor(private readonly qmp: () => QmpMonitor) {}

  /**
   * Asks the guest for statistics; a QEMU started without a balloon (an older Lodge) just has none, and one re-attached
   * while its QMP is out of reach keeps the interval an earlier daemon set (QEMU holds it).
   */
  async startStats(): Promise<void> {
    try {
      await qomSet(this.qmp(), BALLOON_QOM_PATH, 'guest-stats-polling-interval', STATS_INTERVAL_S);
    } catch {
      // no balloon, or no QMP yet: see above
    }
  }

  bootBytes = async (): Promise<number> => (await queryMemorySizeSummary(this.qmp())).base;

  async setTarget(bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new LodgeError('invalid_argument', `memory ${bytes} is not a positive whole number of bytes`);
    const boot = await this.bootBytes();
    if (bytes > boot) {
      throw new LodgeError('invalid_argument', `memory ${formatSize(bytes)} is more than the ${formatSize(boot)} this VM was started with`, {
        hint: 'the balloon can only give back RAM the VM booted with; a larger size needs a restart', details: { requested: bytes, bootBytes: boot },
      });
    }
    const { guestMem } = await this.usage();
    const inUse = guestMem ? guestMem.totalBytes - guestMem.availableBytes : 0;
    const floor = Math.max(MEMORY_FLOOR_BYTES, inUse);
    if (bytes < floor) {
      const why = floor === MEMORY_FLOOR_BYTES ? `below the floor of ${formatSize(floor)}` : `below the ${formatSize(inUse)} the guest uses now`;
      throw new LodgeError('invalid_argument', `memory ${formatSize(bytes)} is ${why}`, {
        hint: `give it at least ${formatSize(floor)}, or free memory in the guest first`, details: { requested: bytes, floorBytes: floor },
      });
    }
    await balloon(this.qmp(), bytes).catch((err: unknown) => {
      throw new LodgeError('host_unsupported', `the balloon of this VM cannot be set: ${(err as Error).message}`, {
        hint: 'VMs get a balloon device when they start; restart this one', cause: err,
      });
    });
  }

  /** What the balloon and the guest's statistics say now; parts that are not there (yet) are left out. */
  async usage(): Promise<GuestMemory> {
    const [actual, report] = await Promise.all([
      queryBalloon(this.qmp()).catch(() => undefined),
      balloonStats(this.qmp(), BALLOON_QOM_PATH).catch(() => undefined),
    ]);
    const total = report?.stats['total-memory'];
    const available = report?.stats['available-memory'];
    return {
      ...(actual === undefined ? {} : { balloonBytes: actual }),
      ...(report?.lastUpdate && total !== undefined && available !== undefined ? { guestMem: { totalBytes: total, availableBytes: available } } : {}),
    };
  }
}
