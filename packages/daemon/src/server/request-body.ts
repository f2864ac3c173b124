import { LodgeError } from '@lodge/api';

/** Reads a raw request body, refusing it as soon as it passes `limit` bytes (never buffering more). */
export async function readBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  const tooBig = (): LodgeError => new LodgeError('invalid_argument', `the body is over ${limit} bytes`, { hint: 'a message body is at most 1 MiB' });
  if (declared > limit) throw tooBig();
  if (!req.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.byteLength;
    if (size > limit) throw tooBig();
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks, size);
}
