// Boot cost of hot-plug room on q35: the same raw QEMU boot with no hot-plug slots, one pcie-pci-bridge (31 slots),
// 4 and 16 spare PCIe root ports, interleaved in one run. QEMU's CPU time is reported next
// to wall time: on a shared host it is the steadier of the two.
import { join } from 'node:path';
import { BenchLodge, median } from './bench-kit.js';
import { bootRawTimed, MARKER, rawArgv } from './raw-boot.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

/** argv with its hot-plug devices (root ports, bridge) replaced by the given ones. */
function withSlots(argv: string[], devices: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-device' && /^(pcie-root-port|pcie-pci-bridge)/.test(argv[i + 1] ?? '')) i++;
    else out.push(argv[i] ?? '');
  }
  return [...out, ...devices.flatMap((d) => ['-device', d])];
}
const rootPorts = (n: number): string[] => Array.from({ length: n }, (_, p) => `pcie-root-port,id=hp${p},bus=pcie.0,chassis=${p + 1},io-reserve=0`);

async function main(): Promise<void> {
  const lodge = new BenchLodge();
  try {
    await lodge.start();
    if ((await lodge.lodge(['image', 'build', 'micro'])).code !== 0) throw new Error('image build failed');
    await lodge.client.create({ name: 'ports', memory: '256M', cpus: 1 });
    // One start writes qemu.cmdline (lodge's own argv); the raw boots reuse its hardware part.
    if ((await lodge.lodge(['start', 'ports', '--no-wait'])).code !== 0) throw new Error('lodge start failed');
    await lodge.client.wait(await lodge.client.stop('ports', { force: true }));
    const { binary, argv } = rawArgv(join(lodge.home, 'vms', 'ports', 'qemu.cmdline'));
    const variants = [
      { what: 'no hot-plug slots', devices: [] },
      { what: '1 pcie-pci-bridge', devices: ['pcie-pci-bridge,id=hpbr,bus=pcie.0'] },
      { what: '4 root ports', devices: rootPorts(4) },
      { what: '16 root ports', devices: rootPorts(16) },
    ].map((v) => ({ ...v, argv: withSlots(argv, v.devices), ms: [] as number[], cpu: [] as number[] }));
    await bootRawTimed(binary, variants[0]!.argv); // warm-up (page cache)
    for (let i = 0; i < RUNS; i++) {
      for (const v of variants) {
        const r = await bootRawTimed(binary, v.argv);
        v.ms.push(r.ms);
        v.cpu.push(r.cpuMs);
      }
    }
    const base = median(variants[0]!.ms);
    const baseCpu = median(variants[0]!.cpu);
    console.log(`bench/disk-ports: raw QEMU launch → "${MARKER}", micro image, q35, 1 vCPU, 256M, TCG, ${RUNS} runs each`);
    for (const v of variants) {
      const wall = `wall median ${median(v.ms).toFixed(0)} ms, ratio ${(median(v.ms) / base).toFixed(3)} [${v.ms.map((x) => x.toFixed(0)).join(' ')}]`;
      const cpu = `QEMU CPU median ${median(v.cpu).toFixed(0)} ms, ratio ${(median(v.cpu) / baseCpu).toFixed(3)}`;
      console.log(`${v.what.padEnd(18)} ${cpu}   ${wall}`);
    }
  } finally {
    await lodge.close();
  }
}

await main();
