import type { WebSocket } from 'ws';
import { ExecClientMessageSchema, ExecStartSchema, LodgeError, type ExecServerMessage, type GuestVia } from '@lodge/api';
import type { GuestService } from '../core/guest-service.js';
import { parseOrThrow } from '../core/validate.js';
import type { GuestExecution } from '../ports/guest-channel.js';
import { closeWithError, jsonMessage, sendJson } from './socket-send.js';
import { SocketQueue } from './socket-queue.js';

/** A client that upgrades but never says what to run is dropped after this. */
const FIRST_MESSAGE_MS = 30_000;
/** A kept socket waiting this long for its next exec is closed (1000 "idle"); clients drop theirs sooner. */
const KEPT_IDLE_MS = 60_000;
const send = (ws: WebSocket, m: ExecServerMessage): Promise<void> => sendJson(ws, m);

/** One guest process on the socket: what the socket does with client messages while it runs. */
interface Run {
  message(data: Buffer, binary: boolean): void;
  cancel(): void;
}

/**
 * Guest processes over one WebSocket: each starts with a text ExecStart; binary is [channel][bytes] both ways.
 * Without `keep` the socket closes after the first process's exit; with it, the socket waits for the next
 * ExecStart (a new WebSocket per exec cost ~2.5 ms of a ~11 ms /bin/true). Messages the client sent for a
 * process before it saw its exit are dropped, not taken for the next start.
 * Output credit goes back to the guest only from ws.send's callback; the client is paused while stdin is pending.
 */
export function serveExec(ws: WebSocket, guest: GuestService, vm: string, keep = false): void {
  let run: Run | undefined;
  let ran = false;
  let closed = false;
  let timer = setTimeout(() => closeWithError(ws, new LodgeError('invalid_argument', 'no exec request arrived')), FIRST_MESSAGE_MS);
  const ended = (): void => {
    run = undefined;
    if (!keep) return ws.close(1000, 'exited');
    timer = setTimeout(() => ws.close(1000, 'idle'), KEPT_IDLE_MS);
  };
  const failed = (err: unknown): void => {
    run = undefined;
    closeWithError(ws, err);
  };
  const abort = (err: unknown): void => {
    run?.cancel();
    failed(err);
  };
  const stdin = new SocketQueue(ws, abort);

  const onMessage = (data: Buffer, binary: boolean): void => {
    if (closed) return;
    if (run) return run.message(data, binary);
    if (ran && binary) return; // the last process's stdin, sent before its exit arrived
    const message = jsonMessage(data);
    if (ran && isControl(message)) return; // its stdin-end or signal likewise
    clearTimeout(timer);
    ran = true;
    run = startRun(ws, guest, vm, message, stdin, ended, failed);
  };

  ws.on('message', (data: Buffer, binary: boolean) => {
    try {
      onMessage(data, binary);
    } catch (err) {
      abort(err);
    }
  });
  ws.on('close', () => {
    closed = true;
    clearTimeout(timer);
    run?.cancel();
    run = undefined;
  });
}

/** A text message with a `type` is a control message (an ExecStart has none). */
function isControl(message: unknown): boolean {
  return typeof message === 'object' && message !== null && 'type' in message;
}

/** Starts the process an ExecStart asks for; `ended` once its exit is sent, `failed` to close the socket with an error. */
function startRun(
  ws: WebSocket,
  guest: GuestService,
  vm: string,
  message: unknown,
  stdin: SocketQueue,
  ended: () => void,
  failed: (err: unknown) => void,
): Run {
  let over = false;
  let announced = false;
  let via: GuestVia = 'lodge-agent';
  let note: string | undefined;
  const announce = (pid: number): void => {
    if (announced || over) return;
    announced = true;
    void send(ws, { type: 'started', pid, via, note }).catch(() => undefined);
  };
  const fail = (err: unknown): void => {
    if (over) return;
    over = true;
    execution.cancel();
    failed(err);
  };
  const request = parseOrThrow(ExecStartSchema, message, 'exec request');
  const started = guest.exec(vm, request, {
    started: announce,
    output: (channel, chunk, done) => {
      ws.send(Buffer.concat([Buffer.of(channel), chunk]), { binary: true }, (err) => (err ? undefined : done()));
    },
  });
  const execution: GuestExecution = started.execution;
  ({ via, note } = started);
  execution.pid.then(announce, () => undefined);
  execution.result.then((result) => {
    if (over) return;
    over = true;
    ws.send(JSON.stringify({ type: 'exit', ...result } satisfies ExecServerMessage));
    ended();
  }, fail);

  return {
    message: (msg, binary) => {
      if (over) return;
      if (binary) {
        if (msg[0] !== 0) throw new LodgeError('invalid_argument', `clients send only channel 0 (stdin), not ${msg[0]}`);
        // A write refused because this process is over is no error of the socket's (a next process may run on it).
        stdin.push(() => execution.writeStdin(msg.subarray(1)).catch((err: unknown) => (over ? undefined : fail(err))));
        return;
      }
      const m = parseOrThrow(ExecClientMessageSchema, jsonMessage(msg), 'exec message');
      switch (m.type) {
        case 'stdin-end':
          return stdin.push(async () => execution.endStdin());
        case 'signal':
          return execution.signal(m.signal);
        case 'resize':
          return execution.resize(m.rows, m.cols);
      }
    },
    cancel: () => {
      if (over) return;
      over = true;
      execution.cancel();
    },
  };
}
