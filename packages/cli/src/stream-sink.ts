/** Writes to a local stream; when it is full the promise waits for 'drain', which slows the sender (the guest) down. */
export function sinkTo(stream: NodeJS.WritableStream): (chunk: Buffer) => void | Promise<void> {
  return (chunk) => {
    if (stream.write(chunk)) return;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('drain', done).off('error', done).off('close', done);
        resolve();
      };
      stream.on('drain', done).on('error', done).on('close', done);
    });
  };
}
