/**
 * Resolves once everything written to `stream` so far is out (at once when nothing waits). process.exit drops what
 * stdout or stderr still queue, and a pipe is asynchronous here: the callback of an empty write runs after all before it.
 */
export function flushed(stream: NodeJS.WritableStream & { writableLength: number; destroyed: boolean }): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * Exits with `code` once stdout and stderr are out: with a reader slower than the guest (`lodge exec VM -- tar c … |
 * tar x`) the last output would be lost otherwise. A reader that went away ends us through main's EPIPE handler.
 */
export async function exitFlushed(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
