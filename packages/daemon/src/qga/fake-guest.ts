import { constants } from 'node:os';

// The canned guest behind the fake qemu-ga: a file map, a process table and a few programs (test double).

export interface ProgramRun {
  exitcode?: number;
  signal?: number;
  stdout?: string | Buffer;
  stderr?: string | Buffer;
  /** How long it runs; Infinity runs until killed. */
  runMs?: number;
}
export type FakeProgram = (args: string[], input: Buffer, guest: FakeGuest) => ProgramRun;

interface Proc {
  run: ProgramRun;
  startedAt: number;
  killedBy?: number;
}
export interface FakeFile {
  data: Buffer;
  mode: number;
  mtimeMs: number;
}

export const PROC_TEXT: Record<string, string> = {
  '/proc/uptime': '123.45 200.00\n',
  '/proc/loadavg': '0.50 0.25 0.10 1/80 321\n',
  '/proc/meminfo': 'MemTotal:        1012345 kB\nMemFree:          800000 kB\nMemAvailable:     900000 kB\n',
};

export class FakeGuest {
  readonly files = new Map<string, FakeFile>();
  readonly dirs = new Set<string>(['/', '/tmp', '/root']);
  readonly programs = new Map<string, FakeProgram>();
  /** Every argv started through guest-exec, in order. */
  readonly started: string[][] = [];
  readonly #procs = new Map<number, Proc>();
  #nextPid = 1000;

  constructor() {
    for (const [path, text] of Object.entries(PROC_TEXT)) this.files.set(path, { data: Buffer.from(text), mode: 0o444, mtimeMs: 0 });
    const p = this.programs;
    p.set('true', () => ({ exitcode: 0 }));
    p.set('false', () => ({ exitcode: 1 }));
    p.set('echo', (args) => ({ exitcode: 0, stdout: `${args.join(' ')}\n` }));
    p.set('sh-err', (args) => ({ exitcode: Number(args[0] ?? 2), stderr: 'oops\n' }));
    p.set('selfkill', () => ({ signal: 15 }));
    p.set('sleep', (args) => ({ exitcode: 0, runMs: args[0] === 'infinity' ? Infinity : Number(args[0]) * 1000 }));
    p.set('cat', (args, input, g) => {
      if (args.length === 0) return { exitcode: 0, stdout: input };
      const missing = args.find((a) => !g.files.has(a));
      if (missing) return { exitcode: 1, stderr: `cat: ${missing}: No such file or directory\n` };
      return { exitcode: 0, stdout: Buffer.concat(args.map((a) => g.files.get(a)!.data)) };
    });
    p.set('kill', (args, _input, g) => {
      const sig = constants.signals[`SIG${(args[0] ?? '-TERM').slice(1)}` as keyof typeof constants.signals] ?? Number((args[0] ?? '').slice(1));
      return g.kill(Number(args[1]), sig) ? { exitcode: 0 } : { exitcode: 1, stderr: 'kill: No such process\n' };
    });
    p.set('stat', (args, _input, g) => {
      const path = args[args.length - 1] ?? '';
      const f = g.files.get(path);
      if (f) return { exitcode: 0, stdout: `${f.mode.toString(8)}|${Math.floor(f.mtimeMs / 1000)}|regular file\n` };
      if (g.dirs.has(path)) return { exitcode: 0, stdout: '755|0|directory\n' };
      return { exitcode: 1, stderr: `stat: cannot stat '${path}': No such file or directory\n` };
    });
    p.set('chmod', (args, _input, g) => {
      const f = g.files.get(args[1] ?? '');
      if (!f) return { exitcode: 1, stderr: 'chmod: No such file or directory\n' };
      f.mode = parseInt(args[0] ?? '', 8);
      return { exitcode: 0 };
    });
  }

  /** Throws a GenericError-style message like qemu-ga's g_spawn failure when the program is unknown. */
  spawn(argv: string[], input: Buffer): number {
    const [path = '', ...args] = argv;
    this.started.push(argv);
    const program = this.programs.get(path.split('/').pop() ?? '');
    if (!program) throw new Error(`Failed to execute child process “${path}” (No such file or directory)`);
    const pid = this.#nextPid++;
    this.#procs.set(pid, { run: program(args, input, this), startedAt: Date.now() });
    return pid;
  }

  /** guest-exec-status: an exited process is reported once, then forgotten (as qemu-ga does). */
  status(pid: number): Record<string, unknown> {
    const proc = this.#procs.get(pid);
    if (!proc) throw new Error("Invalid parameter 'pid'");
    const { run } = proc;
    if (proc.killedBy === undefined && Date.now() - proc.startedAt < (run.runMs ?? 0)) return { exited: false };
    this.#procs.delete(pid);
    const out: Record<string, unknown> = { exited: true };
    if (proc.killedBy !== undefined) out.signal = proc.killedBy;
    else if (run.signal !== undefined) out.signal = run.signal;
    else out.exitcode = run.exitcode ?? 0;
    if (run.stdout?.length) out['out-data'] = Buffer.from(run.stdout).toString('base64');
    if (run.stderr?.length) out['err-data'] = Buffer.from(run.stderr).toString('base64');
    return out;
  }

  kill(pid: number, sig: number): boolean {
    const proc = this.#procs.get(pid);
    if (!proc) return false;
    proc.killedBy ??= sig;
    return true;
  }

  get running(): number {
    return this.#procs.size;
  }
}
