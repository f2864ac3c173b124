// Node 18 (Debian 12's, the guest's) has no global Web Crypto, and the session engine draws its session ids from it.
// Filled from /dev/urandom rather than node:crypto, which costs ~10 ms to load on the host and far more under TCG.

import { closeSync, openSync, readSync } from 'node:fs';

/** Fills `view` with bytes from /dev/urandom. */
export function fillRandom<T extends ArrayBufferView>(view: T): T {
  const fd = openSync('/dev/urandom', 'r');
  try {
    const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    for (let at = 0; at < bytes.length; ) at += readSync(fd, bytes, at, bytes.length - at, null);
  } finally {
    closeSync(fd);
  }
  return view;
}

export function randomHex(bytes: number): string {
  return fillRandom(Buffer.alloc(bytes)).toString('hex');
}

const g = globalThis as { crypto?: unknown };
if (g.crypto === undefined) g.crypto = { getRandomValues: fillRandom };
