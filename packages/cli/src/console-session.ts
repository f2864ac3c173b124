import type { Command } from 'commander';
import type { WebSocket } from 'ws';
import { scanForDetach } from './detach-scanner.js';
import type { Session } from './session.js';

/** After piped input ends, output is awaited until it has been quiet this long (the guest is still answering)... */
const QUIET_MS = 500;
/** ...or, while nothing has come back yet (a guest still booting), up to this long; also the cap for a guest that never stops talking. */
const LINGER_MAX_MS = 5000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Wires the terminal (or a pipe) to the console until detach, end of input, or the VM closing it; resolves with the exit code. */
function attach(ws: WebSocket, name: string, onMessage: (handler: (data: Buffer) => void) => void): Promise<number> {
  const { stdin, stdout, stderr } = process;
  const tty = stdin.isTTY === true;
  const restore = (): void => void (tty && stdin.isRaw && stdin.setRawMode(false));
  return new Promise((resolve) => {
    let done = false;
    let linger: NodeJS.Timeout | undefined;
    let lingerUntil = 0;
    let answered = false;
    const finish = (code: number, message?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(linger);
      stdin.off('data', onInput).off('end', onEnd).pause();
      for (const s of SIGNALS) process.off(s, onSignal);
      restore(); // on every exit path, before anything is printed
      process.off('exit', restore);
      if (message) stderr.write(`${tty ? '\n' : ''}${message}\n`);
      if (ws.readyState === ws.CLOSED) return resolve(code);
      const closed = setTimeout(() => (ws.terminate(), resolve(code)), 1000);
      ws.once('close', () => (clearTimeout(closed), resolve(code)));
      ws.close(1000, 'detached');
    };
    const onInput = (chunk: Buffer): void => {
      const { send, detach } = scanForDetach(chunk);
      if (send.length > 0 && ws.readyState === ws.OPEN) ws.send(send);
      if (detach) finish(0, `Detached from ${name}'s console`);
    };
    const waitQuiet = (): void => {
      clearTimeout(linger);
      const left = lingerUntil - Date.now();
      linger = setTimeout(() => finish(0), Math.max(0, answered ? Math.min(QUIET_MS, left) : left));
    };
    const onEnd = (): void => {
      lingerUntil = Date.now() + LINGER_MAX_MS;
      waitQuiet();
    };
    const onSignal = (signal: NodeJS.Signals): void => finish(signal === 'SIGINT' ? 130 : signal === 'SIGHUP' ? 129 : 143);

    onMessage((data: Buffer) => {
      stdout.write(data);
      if (lingerUntil === 0) return;
      answered = true;
      waitQuiet();
    });
    ws.once('close', (code, reason) => {
      const why = reason.toString() || `code ${code}`;
      finish(code === 1000 || code === 1005 ? 0 : 1, `Disconnected from ${name}'s console (${why})`);
    });
    ws.once('error', (err) => finish(1, `lodge: console of ${name}: ${err.message}`));
    process.on('exit', restore);
    for (const s of SIGNALS) process.on(s, onSignal);
    if (tty) stdin.setRawMode(true); // keys (Ctrl-C too) go to the guest; only Ctrl-] is ours
    stdin.on('data', onInput).on('end', onEnd).resume();
  });
}

/** `lodge console NAME`: the VM's serial console, like `virsh console`. */
export function registerConsoleCommand(program: Command, session: Session): void {
  program
    .command('console')
    .description("attach to a running VM's serial console (detach with Ctrl-]); input may also be piped in")
    .argument('<name>', 'VM name')
    .action(async (name: string) => {
      // Output that arrives before the session is wired up is held, not dropped.
      const early: Buffer[] = [];
      let sink = (d: Buffer): void => void early.push(d);
      const ws = await (await session.connect()).console(name, (d) => sink(d));
      process.stderr.write(`Connected to ${name}'s console; detach with Ctrl-]\n`);
      process.exitCode = await attach(ws, name, (handler) => {
        sink = handler;
        for (const d of early.splice(0)) handler(d);
      });
    });
}
