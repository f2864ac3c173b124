// PROVISION_PROGRESS_FILE: one JSON line per record, appended as the work goes, so lodge start can follow it.

import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PROVISION_RECORD_MAX_BYTES, type ProvisionDone, type ProvisionLine, type ProvisionRecord } from '@lodge/api/guest';

export type RecordFields = Omit<ProvisionRecord, 'time'>;

/** A record's line; output is cut from its start (and a long message from its end) so the line fits the host's limit. */
export function recordLine(line: ProvisionLine): string {
  let text = JSON.stringify(line);
  if (Buffer.byteLength(text) <= PROVISION_RECORD_MAX_BYTES) return text;
  const shrunk = { ...line } as ProvisionRecord;
  if (shrunk.message !== undefined && shrunk.message.length > 1024) shrunk.message = `${shrunk.message.slice(0, 1024)}…`;
  // Escaped control characters take up to 6 bytes each: cut until it fits.
  while (shrunk.output !== undefined && Buffer.byteLength((text = JSON.stringify(shrunk))) > PROVISION_RECORD_MAX_BYTES) {
    shrunk.output = shrunk.output.slice(Math.ceil(shrunk.output.length / 4));
  }
  return JSON.stringify(shrunk);
}

export class ProgressFile {
  readonly lines: ProvisionLine[] = [];

  /** echo: each line also goes there (the service's journal). */
  constructor(private readonly file: string, private readonly echo?: (line: string) => void, private readonly clock: () => Date = () => new Date()) {}

  /** Starts this run's file empty (the file is on tmpfs, but the service may run twice in a boot). */
  async open(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    await writeFile(this.file, '');
  }

  async record(fields: RecordFields): Promise<void> {
    await this.append({ time: this.clock().toISOString(), ...fields });
  }

  async done(ok: boolean, message?: string): Promise<void> {
    const line: ProvisionDone = { time: this.clock().toISOString(), done: true, ok, ...(message === undefined ? {} : { message }) };
    await this.append(line);
  }

  private async append(line: ProvisionLine): Promise<void> {
    this.lines.push(line);
    const text = recordLine(line);
    this.echo?.(text);
    await appendFile(this.file, `${text}\n`);
  }
}
