import type { WebSocket } from 'ws';
import { ExecClientMessageSchema, ExecStartSchema, LodgeError, type ExecServerMessage, type GuestVia } from '@lodge/api';
import type { GuestService } from '../core/guest-service.js';
import { parseOrThrow } from '../core/validate.js';
import type { GuestExecution } from '../ports/guest-channel.js';
import { closeWithError, jsonMessage, sendJson } from './socket-send.js';
import { SocketQueue } from './socket-queue.js';

/** A client that upgrades but never says what to run is dropped after this. */
const FIRST_MESSAGE_MS = 30_000;
const send = (ws: WebSocket, m: ExecServerMessage): Promise<void> => sendJson(ws, m);

/**
 * One guest process per WebSocket: the first text message is the ExecStart; binary is [channel][bytes] both ways.
 * Output credit goes back to the guest only from ws.send's callback; the client is paused while stdin is pending.
 */
export function serveExec(ws: WebSocket, guest: GuestService, vm: string): void {
  let execution: GuestExecution | undefined;
  let via: GuestVia = 'lodge-agent';
  let note: string | undefined;
  let announced = false;
  let over = false;
  const fail = (err: unknown): void => {
    if (over) return;
    over = true;
    execution?.cancel();
    closeWithError(ws, err);
  };
  const announce = (pid: number): void => {
    if (announced || over) return;
    announced = true;
    void send(ws, { type: 'started', pid, via, note }).catch(() => undefined);
  };
  const stdin = new SocketQueue(ws, fail);
  const firstTimer = setTimeout(() => fail(new LodgeError('invalid_argument', 'no exec request arrived')), FIRST_MESSAGE_MS);

  const start = (data: Buffer): void => {
    clearTimeout(firstTimer);
    const request = parseOrThrow(ExecStartSchema, jsonMessage(data), 'exec request');
    const run = guest.exec(vm, request, {
      started: announce,
      output: (channel, chunk, done) => {
        ws.send(Buffer.concat([Buffer.of(channel), chunk]), { binary: true }, (err) => (err ? undefined : done()));
      },
    });
    ({ execution, via, note } = run);
    execution.pid.then(announce, () => undefined);
    execution.result.then(
      (result) => {
        if (over) return;
        over = true;
        ws.send(JSON.stringify({ type: 'exit', ...result } satisfies ExecServerMessage), () => ws.close(1000, 'exited'));
      },
      fail,
    );
  };

  const onMessage = (data: Buffer, binary: boolean): void => {
    if (over) return;
    if (!execution) return start(data);
    const ex = execution;
    if (binary) {
      if (data[0] !== 0) throw new LodgeError('invalid_argument', `clients send only channel 0 (stdin), not ${data[0]}`);
      stdin.push(() => ex.writeStdin(data.subarray(1)));
      return;
    }
    const m = parseOrThrow(ExecClientMessageSchema, jsonMessage(data), 'exec message');
    switch (m.type) {
      case 'stdin-end':
        return stdin.push(async () => ex.endStdin());
      case 'signal':
        return ex.signal(m.signal);
      case 'resize':
        return ex.resize(m.rows, m.cols);
    }
  };

  ws.on('message', (data: Buffer, binary: boolean) => {
    try {
      onMessage(data, binary);
    } catch (err) {
      fail(err);
    }
  });
  ws.on('close', () => {
    clearTimeout(firstTimer);
    if (!over) execution?.cancel();
    over = true;
  });
}
