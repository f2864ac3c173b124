import { LodgeError, type AgentState } from '@lodge/api';

interface StateSource {
  readonly state: AgentState;
  onState(listener: (state: AgentState) => void): () => void;
}

/** Resolves once `source` is in `wanted`; rejects with timeout, or with the signal's reason. */
export function stateReached(source: StateSource, wanted: AgentState, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  if (source.state === wanted) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const finish = (err?: unknown): void => {
      clearTimeout(timer);
      off();
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(signal?.reason ?? new LodgeError('conflict', 'cancelled'));
    const off = source.onState((state) => state === wanted && finish());
    const timer = setTimeout(() => finish(new LodgeError('timeout', `the guest agent was not ${wanted} within ${timeoutMs / 1000} s`)), timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
