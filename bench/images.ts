// Image benchmark: debian-12 build time and size (cold, cache hit, forced rebuild with the .deb cache warm), and
// cold boot from `lodge start` to agent-ready beside raw QEMU of the same disk and kernel to the agent's Hello;
// and, after ready, the first-boot provisioning `lodge start` also follows before it returns.
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchLodge, median, sleep } from './bench-kit.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const IMAGE = 'debian-12';
const TIMEOUT_MS = 300_000;

async function timed(what: string, fn: () => Promise<{ code: number; out: string }>): Promise<number> {
  const t0 = performance.now();
  const r = await fn();
  if (r.code !== 0) throw new Error(`${what} failed: ${r.out}`);
  return performance.now() - t0;
}

/** lodge's QEMU command line as plain QEMU: no supervision, console to nowhere, the agent port on our own socket. */
function rawArgv(cmdlineFile: string, agentSocket: string): { binary: string; argv: string[] } {
  const [binary = 'qemu-system-x86_64', ...rest] = JSON.parse(readFileSync(cmdlineFile, 'utf8')) as string[];
  const argv: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] ?? '';
    const next = rest[i + 1] ?? '';
    if (a === '-daemonize' || a === '-S') continue;
    if (['-name', '-serial', '-mon', '-pidfile'].includes(a)) {
      i++;
      continue;
    }
    // Chardevs: the agent's moves to our socket, the qga port keeps a socket nobody opens, the others go.
    if (a === '-chardev' && /(^|,)id=agent(,|$)/.test(next)) argv.push(a, next.replace(/path=[^,]*/, `path=${agentSocket}`));
    else if (a === '-chardev' && /(^|,)id=qga(,|$)/.test(next)) argv.push(a, next.replace(/path=[^,]*/, `path=${agentSocket}.qga`));
    else if (a !== '-chardev') {
      argv.push(a);
      continue;
    }
    i++;
  }
  return { binary, argv: [...argv, '-serial', 'null'] };
}

/** Launch → the first bytes the guest's agent writes on its port (its Hello). */
async function bootRaw(binary: string, argv: string[], agentSocket: string): Promise<number> {
  const t0 = performance.now();
  const child = spawn(binary, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`raw QEMU exited: ${stderr}`);
      if (performance.now() - t0 > TIMEOUT_MS) throw new Error('raw boot: no agent Hello');
      const hello = await new Promise<boolean>((res) => {
        const s = connect(agentSocket);
        s.once('error', () => res(false));
        s.once('data', () => (s.destroy(), res(true)));
        s.once('close', () => res(false));
      });
      if (hello) return performance.now() - t0;
      await sleep(20);
    }
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

interface LodgeBoot {
  /** `lodge start` launched → the daemon's vm.guest ready event (the agent's Hello answered): what (a) is set against. */
  ready: number;
  /** Ready → the provisioner's done record (first-boot settings applied); `lodge start` returns after it. */
  provision: number;
  /** `lodge start` launched → it returned. */
  start: number;
}

/** `lodge start`, timed at the live vm.guest ready event, the provisioning done event and the command's return. */
async function bootLodge(lodge: BenchLodge, vm: string): Promise<LodgeBoot> {
  const events = await lodge.client.events({ vm });
  let ready = NaN;
  let done = NaN;
  const t0 = performance.now();
  const seen = (async () => {
    for await (const ev of events) {
      if (ev.type === 'vm.guest' && ev.state === 'ready' && ev.via === 'lodge-agent' && Number.isNaN(ready)) ready = performance.now() - t0;
      if (ev.type === 'vm.provision' && ev.step === 'done') done = performance.now() - t0;
    }
  })();
  try {
    const start = await timed('lodge start', () => lodge.lodge(['start', vm, '--ready-timeout', '300']));
    if (Number.isNaN(ready)) throw new Error('lodge start returned without a vm.guest ready event from the Lodge agent');
    return { ready, provision: done - ready, start };
  } finally {
    events.close();
    await seen.catch(() => undefined);
    await lodge.client.wait(await lodge.client.stop(vm, { force: true }));
  }
}

async function main(): Promise<void> {
  const lodge = new BenchLodge();
  const scratch = await mkdtemp(join(tmpdir(), 'lodge-bench-img-'));
  lodge.env.LODGE_IMAGES_DIR = join(scratch, 'images'); // a cold build: no image, no .deb cache
  try {
    await lodge.start();
    const cold = await timed('cold build', () => lodge.lodge(['image', 'build', IMAGE]));
    const hit = await timed('cached build', () => lodge.lodge(['image', 'build', IMAGE]));
    const warm = await timed('forced build', () => lodge.lodge(['image', 'build', IMAGE, '--force']));
    const image = (await lodge.client.images()).find((i) => i.name === IMAGE);
    if (!image) throw new Error('no image after the build');
    const qcow2 = statSync(join(image.folder, image.disk)).size;
    const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
    console.log(`bench/images: ${IMAGE}, TCG, ${RUNS} boots each, q35, 1 vCPU, 512M`);
    console.log(`build: cold ${s(cold)}   cache hit ${s(hit)}   forced rebuild (.debs cached) ${s(warm)}`);
    console.log(`size: ${(image.sizeBytes / 2 ** 20).toFixed(0)} MiB (kernel + initrd + compressed qcow2 ${(qcow2 / 2 ** 20).toFixed(0)} MiB)`);

    await lodge.client.create({ name: 'bench', image: IMAGE, memory: '512M', cpus: 1 });
    await bootLodge(lodge, 'bench'); // first boot (host keys, grow-root) and qemu.cmdline, not timed
    const agentSocket = join(scratch, 'agent.sock');
    const { binary, argv } = rawArgv(join(lodge.home, 'vms', 'bench', 'qemu.cmdline'), agentSocket);
    const raw: number[] = [];
    const viaLodge: LodgeBoot[] = [];
    for (let i = 0; i < RUNS; i++) {
      raw.push(await bootRaw(binary, argv, agentSocket));
      viaLodge.push(await bootLodge(lodge, 'bench'));
    }
    const ready = viaLodge.map((b) => b.ready);
    const fmt = (xs: number[]): string => xs.map((x) => (x / 1000).toFixed(1)).join(' ');
    console.log(`(a) raw qemu-system-x86_64 → agent Hello   median ${s(median(raw))}   [${fmt(raw)}]`);
    console.log(`(b) lodge start → agent ready (vm.guest) median ${s(median(ready))}   [${fmt(ready)}]`);
    console.log(`ratio (b)/(a) = ${(median(ready) / median(raw)).toFixed(3)}   (target ≤ 1.15)`);
    const provision = viaLodge.map((b) => b.provision);
    const start = viaLodge.map((b) => b.start);
    console.log(`then: provisioning (hostname, default user) done after ready median ${s(median(provision))}   [${fmt(provision)}]`);
    console.log(`      lodge start returned (it follows provisioning) median ${s(median(start))}   [${fmt(start)}]`);
  } finally {
    await lodge.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
