// Terminal sessions without native modules: util-linux `script` (or socat) owns the pseudo-terminal.
// A shell prologue records the command's pid, so the agent finds the slave tty (resize) and foreground group (signals).

import { spawn } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { OpError } from './op-error.js';
import { findProgram, shellQuote } from './program-path.js';

export interface PtyPlan {
  command: string;
  args: string[];
  /** Where the prologue writes the command's pid. */
  pidFile: string;
  /** socat does not pass the exit status on: the wrapper writes it here. */
  statusFile: string | undefined;
}

export interface PtyPlanOptions {
  argv: string[];
  rows: number;
  cols: number;
  /** The user's login shell, restored for the command (script itself runs /bin/sh). */
  shell: string;
  ptyDir: string;
  id: string;
  pathVar: string;
  /** The user the session runs as: its pid file is created for it (the folder is root's). */
  owner?: { uid: number; gid: number };
}

/** socat address syntax: backslash-escape its special characters inside SYSTEM:<command>. */
function socatEscape(text: string): string {
  return text.replace(/[\\:,!"'()[\]{}]/g, (c) => `\\${c}`);
}

export function planPty(options: PtyPlanOptions): PtyPlan {
  mkdirSync(options.ptyDir, { recursive: true, mode: 0o711 });
  const pidFile = `${options.ptyDir}/${options.id}`;
  const statusFile = `${pidFile}.status`;
  const createFor = (file: string): void => {
    writeFileSync(file, '', { mode: 0o600 });
    if (options.owner) chownSync(file, options.owner.uid, options.owner.gid);
  };
  createFor(pidFile);
  const setup = `echo $$ > ${shellQuote(pidFile)}; stty rows ${options.rows} cols ${options.cols} 2>/dev/null; `;
  const shellVar = `SHELL=${shellQuote(options.shell)}`;
  const argv = options.argv.map(shellQuote).join(' ');
  const script = findProgram('script', options.pathVar);
  if (script && !/busybox/.test(safeRealpath(script))) {
    return { command: script, args: ['-q', '-e', '-f', '-c', `${setup}${shellVar} exec ${argv}`, '/dev/null'], pidFile, statusFile: undefined };
  }
  const socat = findProgram('socat', options.pathVar);
  if (socat) {
    createFor(statusFile);
    const wrapper = `${setup}${shellVar} ${argv}; echo $? > ${shellQuote(statusFile)}`;
    const address = `SYSTEM:${socatEscape(wrapper)},pty,setsid,ctty,stderr,sigint,sane`;
    return { command: socat, args: ['-lf', '/dev/null', '-', address], pidFile, statusFile };
  }
  throw new OpError('not_found', 'a terminal needs util-linux `script` (Debian package bsdutils) or socat in the guest; neither is installed');
}

function safeRealpath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** The running command inside the terminal: its pid and slave device, once the prologue has run. */
export class PtyHandle {
  private found: { pid: number; slave: string } | undefined;
  private done = false;

  constructor(private readonly pidFile: string, private readonly statusFile?: string) {}

  /** The exit status the socat wrapper recorded (128+N for a signal), if any. */
  recordedStatus(): number | undefined {
    if (!this.statusFile) return undefined;
    try {
      const text = readFileSync(this.statusFile, 'utf8').trim();
      return /^\d+$/.test(text) ? Number(text) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Polls for the pid file (the prologue writes it within milliseconds of the start). */
  async ready(timeoutMs = 5000): Promise<{ pid: number; slave: string } | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.found && !this.done && Date.now() < deadline) {
      try {
        const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
        if (pid > 0) this.found = { pid, slave: readlinkSync(`/proc/${pid}/fd/0`) };
      } catch {
        // not written yet, or the process is gone
      }
      if (!this.found) await new Promise((r) => setTimeout(r, 10));
    }
    return this.found;
  }

  /** Sets the window size on the slave; the kernel sends SIGWINCH to the foreground process group. */
  async resize(rows: number, cols: number): Promise<void> {
    const target = await this.ready();
    if (!target || this.done) return;
    await new Promise<void>((resolve) => {
      const child = spawn('stty', ['-F', target.slave, 'rows', String(rows), 'cols', String(cols)], { stdio: 'ignore' });
      child.on('error', () => resolve());
      child.on('exit', () => resolve());
    });
  }

  /** Sends a signal to the terminal's foreground process group (what Ctrl-C would reach). */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.found) return false;
    const group = foregroundGroup(this.found.pid) ?? this.found.pid;
    try {
      process.kill(-group, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGKILL for the command's session group and the foreground group. */
  killAll(): void {
    if (!this.found) return;
    for (const group of new Set([this.found.pid, foregroundGroup(this.found.pid)])) {
      if (group === undefined) continue;
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }

  dispose(): void {
    this.done = true;
    rmSync(this.pidFile, { force: true });
    if (this.statusFile) rmSync(this.statusFile, { force: true });
  }
}

/** Field 8 of /proc/PID/stat: the foreground process group of the process's terminal. */
function foregroundGroup(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tpgid = Number(fields[5]);
    return tpgid > 0 ? tpgid : undefined;
  } catch {
    return undefined;
  }
}
