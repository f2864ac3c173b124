import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { BusClient } from './bus-client.js';
import { startHarness, type Harness } from './test-harness.js';

let h: Harness;
let cli: string;
beforeAll(async () => {
  h = await startHarness();
  cli = `${h.dir}/lodge-guest.mjs`;
  await build({ entryPoints: [new URL('./guest-cli.ts', import.meta.url).pathname], outfile: cli, bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'error' });
});
afterAll(async () => {
  await h?.close();
});

interface Outcome { code: number | null; stdout: string; stderr: string }

/** Runs lodge-guest against the test bus; `kill` ends long-running commands. */
function lodgeGuest(args: string[], input?: string): { done: Promise<Outcome>; kill: () => void } {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, LODGE_BUS_SOCKET: h.busSocket }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(input ?? '');
  const done = new Promise<Outcome>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { done, kill: () => child.kill('SIGKILL') };
}

async function subscribers(topic: string, n: number): Promise<void> {
  for (let i = 0; i < 250 && h.agent.bus.subscriberCount(topic) < n; i++) await new Promise((r) => setTimeout(r, 20));
  expect(h.agent.bus.subscriberCount(topic)).toBe(n);
}

describe('lodge-guest', () => {
  it('listen --count prints bodies; send takes DATA or stdin', async () => {
    const listen = lodgeGuest(['listen', 'news', '--count', '2']);
    await subscribers('news', 1);
    expect((await lodgeGuest(['send', 'news', 'first']).done).code).toBe(0);
    expect((await lodgeGuest(['send', 'news'], 'second').done).code).toBe(0);
    expect(await listen.done).toMatchObject({ code: 0, stdout: 'first\nsecond\n' });
  });

  it('listen --json prints one JSON line per message', async () => {
    const listen = lodgeGuest(['listen', 'j', '--count', '1', '--json']);
    await subscribers('j', 1);
    await new BusClient(h.busSocket).publish('j', 'x', { replyTo: 'back' });
    const out = await listen.done;
    expect(JSON.parse(out.stdout)).toEqual({ topic: 'j', replyTo: 'back', data: Buffer.from('x').toString('base64') });
  });

  it('serve runs a command per request and request prints the reply', async () => {
    const serve = lodgeGuest(['serve', 'upper', '--', 'tr', 'a-z', 'A-Z']);
    try {
      await subscribers('upper', 1);
      expect(await lodgeGuest(['request', 'upper', 'hello']).done).toMatchObject({ code: 0, stdout: 'HELLO\n' });
    } finally {
      serve.kill();
    }
  });

  it('request fails with exit 1 when nobody answers, usage errors exit 2', async () => {
    const r = await lodgeGuest(['request', 'nobody', 'x', '--timeout', '0.3']).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no subscriber/);
    expect((await lodgeGuest(['frobnicate']).done).code).toBe(2);
    expect((await lodgeGuest(['send']).done).code).toBe(2);
    expect((await lodgeGuest(['listen', 't', '--count', 'x']).done).code).toBe(2);
    expect((await lodgeGuest(['--help']).done)).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: lodge-guest') });
  });

  it('info prints the guest info as JSON; a missing agent is exit 1', async () => {
    const r = await lodgeGuest(['info']).done;
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).agent.pid).toBe(process.pid);
    const missing = await lodgeGuest(['info', '--socket', `${h.dir}/nope.sock`]).done;
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/is lodge-agent running/);
  });
});
