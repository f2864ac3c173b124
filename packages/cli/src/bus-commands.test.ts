import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { checkTopic } from './bus-commands.js';
import { UsageError } from './flag-values.js';
import { messageBody } from './message-body.js';

const piped = (...chunks: Buffer[]): NodeJS.ReadStream => Object.assign(Readable.from(chunks), { isTTY: false }) as unknown as NodeJS.ReadStream;

describe('bus command input', () => {
  it('checks topics before any request', async () => {
    await expect(checkTopic('app/reload')).resolves.toBe('app/reload');
    await expect(checkTopic('_inbox.x')).resolves.toBe('_inbox.x'); // replying to a request
    await expect(checkTopic('_x')).rejects.toBeInstanceOf(UsageError);
    await expect(checkTopic('has space')).rejects.toBeInstanceOf(UsageError);
  });

  it('takes the body from DATA, else from piped stdin, up to 1 MiB', async () => {
    expect((await messageBody('{"a":1}', piped())).toString()).toBe('{"a":1}');
    expect((await messageBody(undefined, piped(Buffer.from('ab'), Buffer.from('c')))).toString()).toBe('abc');
    await expect(messageBody(undefined, piped(Buffer.alloc(2 ** 20), Buffer.alloc(1)))).rejects.toThrow(/at most 1048576 bytes/);
    const tty = Object.assign(Readable.from([]), { isTTY: true }) as unknown as NodeJS.ReadStream;
    await expect(messageBody(undefined, tty)).rejects.toBeInstanceOf(UsageError);
  });
});
