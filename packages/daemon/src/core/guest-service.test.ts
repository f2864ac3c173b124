import { describe, expect, it, vi } from 'vitest';
import { LodgeError, type AgentState, type GuestVia, type LodgeEventBody, type VmState } from '@lodge/api';
import type { GuestInfo } from '@lodge/api/guest';
import type { BusDelivery, GuestChannel } from '../ports/guest-channel.js';
import type { VmRecord } from '../store/vm-table.js';
import { EventBus } from './event-bus.js';
import { GuestService } from './guest-service.js';

/** An in-memory GuestChannel whose state the test sets. */
class FakeChannel implements GuestChannel {
  state: AgentState = 'connecting';
  version: string | undefined = '1.2.3';
  readonly abilities;
  readonly times: number[] = [];
  readonly published: BusDelivery[] = [];
  publishHandler: ((m: BusDelivery) => Promise<number>) | undefined;
  closed = false;
  infoDelayMs = 0;
  private readonly listeners = new Set<(s: AgentState) => void>();

  constructor(readonly via: GuestVia) {
    const full = via === 'lodge-agent';
    this.abilities = { streaming: full, bus: full, tty: full, folders: full, shutdown: full };
  }
  set(state: AgentState): void {
    this.state = state;
    for (const l of this.listeners) l(state);
  }
  onState(l: (s: AgentState) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  whenReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.onState((s) => s === 'ready' && (off(), resolve()));
      setTimeout(() => (off(), reject(new Error('timeout'))), timeoutMs);
      signal?.addEventListener('abort', () => (off(), reject(new Error('aborted'))));
    });
  }
  exec = vi.fn(() => ({ pid: Promise.resolve(1), writeStdin: async () => undefined, endStdin: () => undefined, signal: () => undefined, resize: () => undefined, result: Promise.resolve({ exitCode: 0, signal: null, timedOut: false }), cancel: () => undefined }));
  info = async (): Promise<GuestInfo> => {
    await new Promise((r) => setTimeout(r, this.infoDelayMs));
    return { hostname: this.via } as GuestInfo;
  };
  setTime = async (epochMs: number): Promise<{ offsetMs: number }> => (this.times.push(epochMs), { offsetMs: 0 });
  shutdown = vi.fn(async () => undefined);
  getFiles = vi.fn(async () => ({ entries: 0, bytes: 0 }));
  putFiles = vi.fn(async () => ({ entries: 0, bytes: 0 }));
  /** What readFile serves, by path. */
  readonly files = new Map<string, Buffer>();
  readFile = vi.fn(async (path: string, range: { offset: number; maxBytes: number }) => {
    const data = this.files.get(path);
    if (!data) throw new LodgeError('not_found', `${path}: no such file`);
    return { data: data.subarray(range.offset, range.offset + range.maxBytes), size: data.length };
  });
  publish = async (m: BusDelivery): Promise<{ delivered: number }> => (this.published.push(m), { delivered: 1 });
  onPublish(h: (m: BusDelivery) => Promise<number>): void {
    this.publishHandler = h;
  }
  close(): void {
    this.closed = true;
  }
}

function setup(vmState: VmState = 'running', withQga = true) {
  const events: LodgeEventBody[] = [];
  const bus = new EventBus({ append: (b) => (events.push(b), { ...b, id: events.length, time: '' }), since: () => [] });
  const agent = new FakeChannel('lodge-agent');
  const qga = new FakeChannel('qemu-guest-agent');
  let state = vmState;
  const records = { get: (name: string) => ({ name, state }) as VmRecord };
  const log = { info: () => undefined, warn: () => undefined };
  const guest = new GuestService({ links: { lodgeAgent: () => agent, qemuGuestAgent: () => (withQga ? qga : undefined) }, records, events: bus, log });
  return { guest, agent, qga, events, setState: (s: VmState) => (state = s) };
}

describe('GuestService', () => {
  it('follows provisioning through the ready channel: the progress file, vm.provision events, progress steps', async () => {
    const { guest, qga, events } = setup();
    guest.attach('vm1');
    qga.set('ready'); // only qemu-ga answers: the file is read through it
    const t = '2026-01-01T00:00:00Z';
    qga.files.set('/run/lodge/provision.jsonl', Buffer.from(`{"time":"${t}","step":"script","name":"01-setup","status":"ok"}\n{"time":"${t}","done":true,"ok":true}\n`));
    const steps: string[] = [];
    const spec = { provision: [{ name: 'setup', mode: 'system' as const, run: 'once' as const, script: 'true', timeout: 60 }], packages: [] };
    await guest.followProvisioning('vm1', { spec, progress: (p) => steps.push(p.step), stateOf: () => 'running' });
    expect(qga.readFile).toHaveBeenCalledWith('/run/lodge/provision.jsonl', { offset: 0, maxBytes: 65536 }, undefined);
    expect(steps).toEqual(['provisioning: waiting for the guest to report', 'provisioning: script setup (1/1): ok', 'provisioning: done']);
    expect(events.filter((e) => e.type === 'vm.provision')).toEqual([
      { type: 'vm.provision', vm: 'vm1', step: 'script', name: 'setup', status: 'ok' },
      { type: 'vm.provision', vm: 'vm1', step: 'done', status: 'ok' },
    ]);
  });

  it('prefers the Lodge agent, falls back to the QEMU guest agent, and reports readiness', async () => {
    const { guest, agent, qga, events } = setup();
    guest.attach('vm1');
    expect(guest.summary('vm1')).toEqual({ state: 'connecting' });
    qga.set('ready');
    expect(guest.summary('vm1')).toMatchObject({ state: 'ready', via: 'qemu-guest-agent' });
    const viaQga = await guest.status('vm1');
    expect(viaQga.note).toMatch(/need the Lodge agent/);
    expect(viaQga.info?.hostname).toBe('qemu-guest-agent');
    agent.set('ready');
    const status = await guest.status('vm1');
    expect(status).toMatchObject({ state: 'ready', via: 'lodge-agent', version: '1.2.3', info: { hostname: 'lodge-agent' } });
    expect(status.readyAt).toBeDefined();
    expect(events).toContainEqual({ type: 'vm.guest', vm: 'vm1', state: 'ready', via: 'lodge-agent', version: '1.2.3' });
    expect(agent.times).toHaveLength(1); // the clock is set when the agent becomes ready
    guest.resumed('vm1');
    expect(agent.times).toHaveLength(1); // and not again within a second
  });

  it('gives the live info 5 s, then answers without it', async () => {
    vi.useFakeTimers();
    try {
      const { guest, agent } = setup();
      guest.attach('vm1');
      agent.set('ready');
      agent.infoDelayMs = 60_000;
      const pending = guest.status('vm1');
      await vi.advanceTimersByTimeAsync(5001);
      const status = await pending;
      expect(status.info).toBeUndefined();
      expect(status.note).toMatch(/no answer within 5 s/);
    } finally {
      vi.useRealTimers();
    }
  });

  it('waits for readiness, with a timeout, and stops waiting when the VM goes away', async () => {
    const { guest, agent } = setup('running', false);
    guest.attach('vm1');
    expect(await guest.waitReady('vm1', 50)).toBeUndefined();
    const waiting = guest.waitReady('vm1', 5000);
    agent.set('ready');
    expect(await waiting).toBe('lodge-agent');
    agent.set('connecting');
    const cut = guest.waitReady('vm1', 5000);
    guest.detach('vm1');
    expect(await cut).toBeUndefined();
    expect(agent.closed).toBe(true);
  });

  it('gives the Lodge agent 10 s after QGA answers first, or the whole deadline when the image carries it', async () => {
    vi.useFakeTimers();
    try {
      for (const expected of [false, true]) {
        const { guest, agent, qga } = setup();
        guest.attach('vm1');
        const waiting = guest.waitReady('vm1', 120_000, undefined, expected);
        qga.set('ready');
        await vi.advanceTimersByTimeAsync(30_000); // Node starting slowly on a busy TCG guest
        agent.set('ready');
        expect(await waiting).toBe(expected ? 'lodge-agent' : 'qemu-guest-agent');
        guest.detach('vm1');
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it('lets a request soon after an attach wait for the Lodge agent the image carries, not take QGA or fail; later ones do not wait', async () => {
    vi.useFakeTimers();
    try {
      const sinks = { output: () => undefined };
      const settled = (p: Promise<void>) => p.then(() => 'ok', (e: LodgeError) => e.code);
      // lodged restarted: QGA answers first, our agent a second later; the request waits for ours.
      const a = setup();
      a.guest.attach('vm1', undefined, true);
      a.qga.set('ready');
      let outcome: string | undefined;
      void settled(a.guest.reachable('vm1')).then((o) => (outcome = o));
      await vi.advanceTimersByTimeAsync(1000);
      expect(outcome).toBeUndefined();
      a.agent.set('ready');
      await vi.advanceTimersByTimeAsync(0);
      expect(outcome).toBe('ok');
      expect(a.guest.exec('vm1', { argv: ['true'] }, sinks).via).toBe('lodge-agent');
      // Files and messages wait the same way.
      a.agent.set('connecting');
      a.guest.attach('vm1', undefined, true);
      const files = a.guest.getFiles('vm1', '/etc/hostname', { entry: async () => undefined, data: async () => undefined });
      await vi.advanceTimersByTimeAsync(500);
      expect(a.agent.getFiles).not.toHaveBeenCalled();
      a.agent.set('ready');
      await files;
      expect(a.agent.getFiles).toHaveBeenCalledTimes(1);
      // No agent at all: the wait ends at SETTLE_MS with the usual error.
      const b = setup('running', false);
      b.guest.attach('vm1', undefined, true);
      void settled(b.guest.reachable('vm1')).then((o) => (outcome = o));
      outcome = undefined;
      await vi.advanceTimersByTimeAsync(4900);
      expect(outcome).toBeUndefined();
      await vi.advanceTimersByTimeAsync(200);
      expect(outcome).toBe('invalid_state');
      // Long after the attach, nothing waits.
      void settled(b.guest.reachable('vm1')).then((o) => (outcome = o));
      outcome = undefined;
      await vi.advanceTimersByTimeAsync(0);
      expect(outcome).toBe('invalid_state');
      // An image not known to carry our agent: QGA answering is enough.
      const c = setup();
      c.guest.attach('vm1');
      c.qga.set('ready');
      outcome = undefined;
      void settled(c.guest.reachable('vm1')).then((o) => (outcome = o));
      await vi.advanceTimersByTimeAsync(0);
      expect(outcome).toBe('ok');
      expect(c.guest.exec('vm1', { argv: ['true'] }, sinks).via).toBe('qemu-guest-agent');
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses clearly: VM not running, agent not connected, tty through the QEMU guest agent', () => {
    const { guest, qga, setState } = setup();
    guest.attach('vm1');
    const sinks = { output: () => undefined };
    expect(() => guest.exec('vm1', { argv: ['true'] }, sinks)).toThrow(expect.objectContaining({ code: 'invalid_state', hint: expect.stringMatching(/not connected yet/) }));
    qga.set('ready');
    expect(() => guest.exec('vm1', { argv: ['sh'], tty: { rows: 24, cols: 80 } }, sinks)).toThrow(expect.objectContaining({ code: 'invalid_argument', message: expect.stringMatching(/needs the Lodge agent/) }));
    expect(guest.exec('vm1', { argv: ['true'] }, sinks).via).toBe('qemu-guest-agent');
    setState('stopped');
    expect(() => guest.exec('vm1', { argv: ['true'] }, sinks)).toThrow(expect.objectContaining({ code: 'invalid_state', hint: 'start it with: lodge start vm1' }));
  });

  it('delivers guest publishes to host subscribers after they took them, and counts both ends on host publishes', async () => {
    const { guest, agent } = setup();
    guest.attach('vm1');
    agent.set('ready');
    const got: string[] = [];
    let release: () => void = () => undefined;
    const off = guest.subscribe('vm1', 'news', (m) => new Promise<void>((r) => ((release = r), got.push(m.body.toString()))));
    guest.subscribe('vm1', 'news', async () => undefined);
    let delivered: number | undefined;
    void agent.publishHandler?.({ topic: 'news', body: Buffer.from('hello') }).then((n) => (delivered = n));
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['hello']);
    expect(delivered).toBeUndefined(); // the slow subscriber holds the guest's publisher
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(delivered).toBe(2);
    off();
    expect(await guest.publish('vm1', { topic: 'news', body: Buffer.from('x') })).toEqual({ delivered: 2 });
    expect(agent.published[0]?.topic).toBe('news');
    await expect(guest.publish('vm1', { topic: '../bad', body: Buffer.alloc(0) })).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('answers a request with the first reply on its inbox, or times out', async () => {
    const { guest, agent } = setup();
    guest.attach('vm1');
    agent.set('ready');
    agent.publish = async (m) => {
      setTimeout(() => void agent.publishHandler?.({ topic: m.replyTo ?? '', body: Buffer.from(`re:${m.body.toString()}`) }), 5);
      return { delivered: 1 };
    };
    const reply = await guest.request('vm1', { topic: 'ask', body: Buffer.from('q') }, 1000);
    expect(reply.body.toString()).toBe('re:q');
    expect(reply.topic).toMatch(/^_inbox\./);
    agent.publish = async () => ({ delivered: 1 });
    await expect(guest.request('vm1', { topic: 'ask', body: Buffer.from('q') }, 50)).rejects.toMatchObject({ code: 'timeout' });
    agent.publish = async () => ({ delivered: 0 });
    await expect(guest.request('vm1', { topic: 'ask', body: Buffer.from('q') }, 50)).rejects.toMatchObject({ code: 'not_found' });
  });
});
