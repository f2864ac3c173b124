// GRUB boot benchmark: `lodge start` → agent-ready of debian-12-grub (SeaBIOS → GRUB → kernel from the disk)
// beside debian-12 (QEMU loads the kernel), same host, same run, alternating; medians and their ratio.
// Both images must be built in LODGE_IMAGES_DIR (test/e2e/grub-image.test.ts builds them into the test cache).
import { BenchLodge, median } from './bench-kit.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const IMAGES = { direct: 'debian-12', grub: 'debian-12-grub' } as const;

async function main(): Promise<void> {
  const lodge = new BenchLodge();
  try {
    await lodge.start();
    const built = new Set((await lodge.client.images()).map((i) => i.name));
    const missing = Object.values(IMAGES).filter((n) => !built.has(n));
    if (missing.length > 0) throw new Error(`not built in ${lodge.env.LODGE_IMAGES_DIR}: ${missing.join(', ')} (run: npx vitest run --project e2e test/e2e/grub-image.test.ts)`);
    const times: Record<keyof typeof IMAGES, number[]> = { direct: [], grub: [] };
    // Before the kernel: wall time since `lodge start` less the guest's uptime (read mid-exec). Firmware, GRUB and
    // the kernel's load and decompression are in it; guest CPU starved by other load is not.
    const preKernel: Record<keyof typeof IMAGES, number[]> = { direct: [], grub: [] };
    const start = async (vm: string, record?: keyof typeof IMAGES): Promise<void> => {
      const t0 = performance.now();
      const r = await lodge.lodge(['start', vm, '--ready-timeout', '300']);
      if (r.code !== 0) throw new Error(`lodge start ${vm} failed: ${r.out}`);
      const ready = performance.now() - t0;
      const e0 = performance.now();
      const up = await lodge.lodge(['exec', vm, '--', 'cat', '/proc/uptime']);
      const mid = (e0 + performance.now()) / 2 - t0;
      if (up.code !== 0) throw new Error(`lodge exec ${vm} failed: ${up.out}`);
      if (record) {
        times[record].push(ready);
        preKernel[record].push(mid - Number(up.out.split(' ')[0]) * 1000);
      }
      await lodge.client.wait(await lodge.client.stop(vm, { force: true }));
    };
    for (const [vm, image] of Object.entries(IMAGES)) {
      await lodge.client.create({ name: vm, image, memory: '512M', cpus: 1, disk: '4G' });
      await start(vm); // first boot (host keys, grow-root of partition and file system): not timed
    }
    for (let i = 0; i < RUNS; i++) for (const vm of ['direct', 'grub'] as const) await start(vm, vm);
    const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
    const fmt = (xs: number[]): string => xs.map((x) => (x / 1000).toFixed(1)).join(' ');
    console.log(`bench/grub-boot: TCG, ${RUNS} warm boots each, q35, 1 vCPU, 512M, 4G disk`);
    console.log(`(a) ${IMAGES.direct}, direct kernel boot → agent ready   median ${s(median(times.direct))}   [${fmt(times.direct)}]`);
    console.log(`(b) ${IMAGES.grub}, SeaBIOS + GRUB → agent ready     median ${s(median(times.grub))}   [${fmt(times.grub)}]`);
    console.log(`ratio (b)/(a) = ${(median(times.grub) / median(times.direct)).toFixed(3)}`);
    console.log(`before the kernel runs (wall time less guest uptime): direct median ${s(median(preKernel.direct))} [${fmt(preKernel.direct)}], grub median ${s(median(preKernel.grub))} [${fmt(preKernel.grub)}]`);
  } finally {
    await lodge.close();
  }
}

await main();
