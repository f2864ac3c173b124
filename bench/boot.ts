// Boot time: launch → the guest init's marker, raw qemu-system-x86_64 vs `lodge start` of the same VM.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BenchLodge, median, sleep } from './bench-kit.js';
import { bootRaw, rawArgv } from './raw-boot.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MARKER = 'lodge-micro: init reached';
const TIMEOUT_MS = 60_000;

async function bootLodge(lodge: BenchLodge, vm: string): Promise<{ marker: number; cli: number }> {
  const log = join(lodge.home, 'vms', vm, 'console.log');
  const from = (() => {
    try {
      return statSync(log).size;
    } catch {
      return 0;
    }
  })();
  const t0 = performance.now();
  let cli = 0;
  let failure: string | undefined;
  const started = lodge.lodge(['start', vm]).then((r) => {
    if (r.code !== 0) failure = r.out;
    cli = performance.now() - t0;
  });
  for (;;) {
    if (failure !== undefined) throw new Error(`lodge start failed: ${failure}`);
    let text = '';
    try {
      text = readFileSync(log).subarray(from).toString();
    } catch {
      // not created yet
    }
    if (text.includes(MARKER)) break;
    if (performance.now() - t0 > TIMEOUT_MS) throw new Error('lodge boot: no marker');
    await sleep(5);
  }
  const marker = performance.now() - t0;
  await started;
  await lodge.client.wait(await lodge.client.stop(vm, { force: true }));
  return { marker, cli };
}

async function main(): Promise<void> {
  const lodge = new BenchLodge();
  try {
    await lodge.start();
    if ((await lodge.lodge(['image', 'build', 'micro'])).code !== 0) throw new Error('image build failed');
    await lodge.client.create({ name: 'bench', memory: '256M', cpus: 1 });
    await bootLodge(lodge, 'bench'); // warm-up; also writes qemu.cmdline
    const { binary, argv } = rawArgv(join(lodge.home, 'vms', 'bench', 'qemu.cmdline'));
    const raw: number[] = [];
    const viaLodge: number[] = [];
    const cli: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      raw.push(await bootRaw(binary, argv));
      const r = await bootLodge(lodge, 'bench');
      viaLodge.push(r.marker);
      cli.push(r.cli);
    }
    const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' ');
    console.log(`bench/boot: launch → "${MARKER}", micro image, q35, 1 vCPU, 256M, TCG, ${RUNS} runs each`);
    console.log(`(a) raw qemu-system-x86_64   median ${median(raw).toFixed(0)} ms   [${fmt(raw)}]`);
    console.log(`(b) lodge start              median ${median(viaLodge).toFixed(0)} ms   [${fmt(viaLodge)}]`);
    console.log(`    (lodge start returned    median ${median(cli).toFixed(0)} ms: VM running, CLI done)`);
    console.log(`ratio (b)/(a) = ${(median(viaLodge) / median(raw)).toFixed(3)}   (target ≤ 1.15)`);
  } finally {
    await lodge.close();
  }
}

await main();
