import { execFile } from 'node:child_process';

/** "7.2.22" from "QEMU emulator version 7.2.22 (Debian ...)" or "qemu-img version 7.2.22 ..."; undefined otherwise. */
export function parseQemuVersion(text: string): string | undefined {
  return /\bversion\s+(\d+\.\d+(?:\.\d+)?)/i.exec(text)?.[1];
}

export interface QemuVersion {
  version?: string;
  note?: string;
}

/** Runs `binary --version`; a binary that does not answer in time is reported, not thrown. */
export function readQemuVersion(binary: string, signal?: AbortSignal): Promise<QemuVersion> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['--version'], { timeout: 5000, signal, maxBuffer: 64 * 1024 }, (err, stdout) => {
      if (signal?.aborted) return reject(signal.reason);
      if (err) return resolve({ note: `${binary} --version failed: ${err.message.split('\n')[0]}` });
      const version = parseQemuVersion(stdout);
      resolve(version ? { version } : { note: `${binary} --version printed no version: ${stdout.trim().slice(0, 200)}` });
    });
  });
}
