import type { Duplex } from 'node:stream';

/**
 * Runs shell commands on a VM's serial console and returns their output. Markers are typed as "=""=b N==" so the
 * echoed command line never matches the "==b N==" the shell prints.
 */
export class GuestConsole {
  private output = '';
  private n = 0;

  constructor(private readonly stream: Duplex) {
    stream.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  async run(command: string, timeoutMs = 120_000): Promise<string> {
    const id = ++this.n;
    const from = this.output.length;
    this.stream.write(`echo "=""=b ${id}=="; ${command}; echo "=""=e ${id}=="\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.output.slice(from);
      const begin = text.indexOf(`==b ${id}==`);
      const end = text.indexOf(`==e ${id}==`);
      if (begin >= 0 && end > begin) return text.slice(begin + `==b ${id}==`.length, end).replaceAll('\r', '').trim();
      if (Date.now() > deadline) throw new Error(`"${command}" did not finish on the console within ${timeoutMs} ms:\n${text.slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A /proc/meminfo field in bytes. */
  async meminfo(field: string): Promise<number> {
    const line = await this.run(`grep '^${field}:' /proc/meminfo`);
    const kib = /(\d+)\s+kB/.exec(line)?.[1];
    if (kib === undefined) throw new Error(`no ${field} in /proc/meminfo: ${line}`);
    return Number(kib) * 1024;
  }

  close(): void {
    this.stream.destroy();
  }
}
