import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { AGENT_VSOCK_PORT } from '@lodge/api/guest';
import type { AgentConnection, AgentDial } from './agent-connection.js';

/** socat's notice once both ends are open: the connection is up. */
const CONNECTED = 'starting data transfer loop';
const STDERR_KEEP = 2048;

/** The agent's vsock address for a guest CID. */
export const vsockAddress = (cid: number): string => `VSOCK-CONNECT:${cid}:${AGENT_VSOCK_PORT}`;

/**
 * Node has no AF_VSOCK: one `socat STDIO <address>` child per connection, its pipes as the byte stream. The child is
 * the connection's only resource: destroy() kills it, its exit is 'close', and if lodged dies its stdin reaches EOF
 * and socat exits by itself. `address` is any socat address, so tests point it at a unix socket.
 */
export function dialSocat(address: string, socat = 'socat'): AgentDial {
  return () => new SocatConnection(socat, address);
}

class SocatConnection extends EventEmitter implements AgentConnection {
  private connected = false;
  private ended = false;
  private stderr = '';
  private readonly child;

  constructor(socat: string, address: string) {
    super();
    // -b: 64 KiB reads (socat's 8 KiB default costs throughput); -d -d: the notice that says we are connected.
    const child = spawn(socat, ['-b', '65536', '-d', '-d', 'STDIO', address], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => this.emit('data', chunk));
    child.stdin.on('drain', () => this.emit('drain'));
    child.stdin.on('error', () => undefined); // EPIPE once socat is gone; 'close' reports it
    child.stderr.on('data', (chunk: Buffer) => this.notice(chunk.toString()));
    child.on('error', (err) => this.finish(`cannot run ${socat}: ${err.message}`));
    child.on('close', (code, signal) => this.finish(`socat exited (${signal ?? `code ${code}`})`));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  write(bytes: Buffer, written?: () => void): boolean {
    if (!this.connected || this.ended) return written?.(), true;
    return this.child.stdin.write(bytes, written && (() => written()));
  }

  get writableCorked(): number {
    return this.child.stdin.writableCorked;
  }

  cork(): void {
    this.child.stdin.cork();
  }

  uncork(): void {
    this.child.stdin.uncork();
  }

  destroy(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private notice(text: string): void {
    this.stderr = (this.stderr + text).slice(-STDERR_KEEP);
    if (!this.connected && this.stderr.includes(CONNECTED)) {
      this.connected = true;
      this.emit('connect');
    }
  }

  private finish(why: string): void {
    if (this.ended) return;
    this.ended = true;
    const last = this.stderr.split('\n').filter((l) => / [EW] /.test(l)).at(-1)?.replace(/^.*? [EW] /, '');
    if (!this.connected) this.emit('error', new Error(last ? `${why}: ${last}` : why));
    this.emit('close');
  }
}
