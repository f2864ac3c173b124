import type { ExecStart } from '@lodge/api';
import { Channel, type ExecResult, type Stream } from '@lodge/api/guest';
import type { ExecSinks, GuestExecution } from '../ports/guest-channel.js';
import { guestFailure } from './guest-failure.js';
import type { StreamOpener } from './preferred-link.js';

const noop = (): void => undefined;

/** Runs one guest process on an `exec` stream; output credit goes back only when a sink says it passed the bytes on. */
export function agentExec(link: StreamOpener, request: ExecStart, sinks: ExecSinks): GuestExecution {
  const stream: Stream = link.open({ op: 'exec', ...request });
  let started: (pid: number) => void = noop;
  let failed: (err: unknown) => void = noop;
  const pid = new Promise<number>((resolve, reject) => ((started = resolve), (failed = reject)));
  pid.catch(noop); // callers that never ask for the pid must not see an unhandled rejection

  stream.on('control', (message) => {
    const m = message as { type: string; pid?: number };
    if (m.type !== 'started' || m.pid === undefined) return;
    sinks.started?.(m.pid);
    started(m.pid);
  });
  stream.on('data', (channel, chunk) => {
    if (channel !== Channel.Output && channel !== Channel.Error) {
      stream.reset({ code: 'protocol_error', message: `exec output on channel ${channel}` });
      return;
    }
    let returned = false;
    sinks.output(channel, chunk, () => {
      if (returned) return;
      returned = true;
      if (!stream.finished) stream.consumed(channel, chunk.length);
    });
  });

  const result = stream.result().then(
    (r) => r as ExecResult, // checked against ExecResultSchema by the link before it got here
    (err: unknown) => {
      throw guestFailure(err, `exec ${request.argv[0] ?? ''}`);
    },
  );
  result.then(() => failed(new Error('the guest process ended before it was reported started')), failed);
  result.catch(noop);

  return {
    pid,
    writeStdin: async (chunk) => {
      try {
        await stream.write(Channel.Input, chunk);
      } catch (err) {
        throw guestFailure(err, 'writing stdin');
      }
    },
    endStdin: () => !stream.finished && stream.end(Channel.Input),
    signal: (name) => !stream.finished && stream.control({ type: 'signal', signal: name }),
    resize: (rows, cols) => !stream.finished && stream.control({ type: 'resize', rows, cols }),
    result,
    cancel: () => !stream.finished && stream.reset({ code: 'cancelled', message: 'cancelled by the client' }),
  };
}
