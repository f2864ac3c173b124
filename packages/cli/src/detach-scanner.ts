/** Ctrl-] (0x1d): the detach key of virsh console and telnet. */
export const DETACH_KEY = 0x1d;

export interface ScannedInput {
  /** What goes to the guest: everything before the detach key. */
  send: Buffer;
  /** True when the chunk held the detach key; nothing after it is sent. */
  detach: boolean;
}

/** Splits one chunk of keyboard input at the first detach key. */
export function scanForDetach(chunk: Buffer): ScannedInput {
  const at = chunk.indexOf(DETACH_KEY);
  if (at < 0) return { send: chunk, detach: false };
  return { send: chunk.subarray(0, at), detach: true };
}
