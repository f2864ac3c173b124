import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, type Stream } from '@lodge/api/guest';
import { isRunning, startHarness, type Harness } from './test-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** A terminal session: what it printed so far, and a way to wait for a pattern. */
function terminal(stream: Stream): { text: () => string; waitFor: (re: RegExp, ms?: number) => Promise<string>; type: (s: string) => Promise<void> } {
  let text = '';
  stream.on('data', (channel, chunk) => {
    text += chunk.toString();
    stream.consumed(channel, chunk.length);
  });
  return {
    text: () => text,
    async waitFor(re, ms = 5000) {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const m = re.exec(text);
        if (m) return m[0];
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`timed out waiting for ${re} in ${JSON.stringify(text)}`);
    },
    type: (s) => stream.write(Channel.Input, Buffer.from(s)),
  };
}

describe('exec with a terminal', () => {
  it('runs an interactive shell: sizes, resize, reading a line, exit code', async () => {
    const stream = h.host.open({ op: 'exec', argv: ['sh'], tty: { rows: 24, cols: 80, term: 'dumb' }, stdin: true, env: { PS1: '$ ' } });
    const result = stream.result();
    const t = terminal(stream);
    await t.type('stty size; echo "term=$TERM"\n');
    await t.waitFor(/\b24 80\r?$/m);
    await t.waitFor(/term=dumb\r?$/m);
    await t.type('tty\n');
    await t.waitFor(/\/dev\/pts\/\d+/);
    stream.control({ type: 'resize', rows: 40, cols: 100 });
    const deadline = Date.now() + 5000;
    while (!/\b40 100\r?$/m.test(t.text()) && Date.now() < deadline) {
      await t.type('stty size\n');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(t.text()).toMatch(/\b40 100\r?$/m);
    await t.type('read x; echo "got:$x"\n');
    await t.type('hello there\n');
    await t.waitFor(/got:hello there/);
    await t.type('exit 3\n');
    expect(await result).toEqual({ exitCode: 3, signal: null, timedOut: false });
  });

  it('resizes a session that runs as another user', async () => {
    const stream = h.host.open({ op: 'exec', argv: ['sh'], tty: { rows: 24, cols: 80 }, stdin: true, user: 'nobody', cwd: '/' });
    const t = terminal(stream);
    await t.type('id -u\n');
    await t.waitFor(/\b65534\r?$/m);
    stream.control({ type: 'resize', rows: 50, cols: 120 });
    const deadline = Date.now() + 5000;
    while (!/\b50 120\r?$/m.test(t.text()) && Date.now() < deadline) {
      await t.type('stty size\n');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(t.text()).toMatch(/\b50 120\r?$/m);
    expect(t.text()).not.toMatch(/Permission denied|cannot create/);
    await t.type('exit\n');
    expect(await stream.result()).toMatchObject({ exitCode: 0 });
  });

  it('delivers Ctrl-C as a byte to the foreground program', async () => {
    const stream = h.host.open({ op: 'exec', argv: ['sh'], tty: { rows: 24, cols: 80 }, stdin: true });
    const result = stream.result();
    const t = terminal(stream);
    await t.type('sleep 20\n');
    await new Promise((r) => setTimeout(r, 300));
    await t.type('\x03');
    await t.type('echo alive-$((40+2))\n');
    // Within 3 s, not 20: the sleep got SIGINT from the terminal.
    await t.waitFor(/alive-42/, 3000);
    await t.type('exit\n');
    expect(await result).toMatchObject({ exitCode: 0 });
  });

  it('turns the end of input into Ctrl-D', async () => {
    const stream = h.host.open({ op: 'exec', argv: ['sh', '-c', 'cat; echo "cat ended"'], tty: { rows: 24, cols: 80 }, stdin: true });
    const t = terminal(stream);
    await t.type('line\n');
    stream.end(Channel.Input);
    expect(await stream.result()).toMatchObject({ exitCode: 0 });
    expect(t.text()).toMatch(/cat ended/);
  });

  it('falls back to socat when script is missing, keeping the exit status', async () => {
    const bin = `${h.dir}/socat-only-bin`;
    mkdirSync(bin);
    for (const tool of ['socat', 'sh', 'stty', 'cat']) symlinkSync(execFileSync('which', [tool]).toString().trim(), `${bin}/${tool}`);
    const stream = h.host.open({ op: 'exec', argv: ['sh', '-c', 'stty size; exit 5'], tty: { rows: 30, cols: 90 }, env: { PATH: bin } });
    const t = terminal(stream);
    expect(await stream.result()).toEqual({ exitCode: 5, signal: null, timedOut: false });
    expect(t.text()).toMatch(/30 90/);
  });

  it('answers not_found for a missing program before starting a terminal', async () => {
    const stream = h.host.open({ op: 'exec', argv: ['no-such-program-xyz'], tty: { rows: 24, cols: 80 } });
    await expect(stream.result()).rejects.toMatchObject({ code: 'not_found' });
  });

  it('kills the session when the host cancels', async () => {
    const stream = h.host.open({ op: 'exec', argv: ['sh', '-c', 'echo $$; exec sleep 30'], tty: { rows: 24, cols: 80 }, stdin: true });
    const t = terminal(stream);
    const pid = Number((await t.waitFor(/^\d+\r?$/m)).trim());
    const t0 = Date.now();
    stream.reset({ code: 'cancelled', message: 'test cancel' });
    const deadline = Date.now() + 3000;
    let alive = true;
    // A killed process whose parent (script) died too stays a zombie until init reaps it: that counts as gone.
    while (alive && Date.now() < deadline) {
      alive = isRunning(pid);
      if (alive) await new Promise((r) => setTimeout(r, 20));
    }
    expect(alive).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
