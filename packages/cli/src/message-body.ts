import { UsageError } from './flag-values.js';

/** A message body from the DATA argument, else from piped stdin (at most 1 MiB, checked while reading). */
export async function messageBody(data: string | undefined, stdin: NodeJS.ReadStream = process.stdin): Promise<Buffer> {
  if (data !== undefined) return Buffer.from(data, 'utf8');
  if (stdin.isTTY) throw new UsageError('give the message as DATA, or pipe it on stdin', "e.g. lodge send web app/reload '{}'  or  lodge send web app/config < config.json");
  const { MAX_MESSAGE_BYTES } = await import('@lodge/api/guest');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_MESSAGE_BYTES) throw new UsageError(`a message body is at most ${MAX_MESSAGE_BYTES} bytes; stdin has more`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
