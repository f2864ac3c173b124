// The virtio-serial port (or, for host-side tests, a FIFO pair): reads in a worker, writes with async writev.

import { openSync, closeSync } from 'node:fs';
import { FdWriter } from './fd-writer.js';
import { startPortReader } from './port-reader.js';
import type { Transport, TransportHandlers } from './transport.js';

export interface PortPaths {
  /** The character device, opened read-write (virtio_console allows one open per port). */
  device?: string;
  /** Testing: separate FIFOs (`--port-in`, `--port-out`); closing the writer of `input` is end-of-file. */
  input?: string;
  output?: string;
}

export function openPortTransport(paths: PortPaths, handlers: TransportHandlers): Transport {
  const fds: number[] = [];
  let writeFd: number;
  let readSource: { fd: number } | { path: string };
  if (paths.device) {
    writeFd = openSync(paths.device, 'r+');
    fds.push(writeFd);
    readSource = { fd: writeFd };
  } else if (paths.input && paths.output) {
    // O_RDWR: opening a FIFO for writing must not block until the other side opens it.
    writeFd = openSync(paths.output, 'r+');
    fds.push(writeFd);
    readSource = { path: paths.input };
  } else {
    throw new Error('a port needs a device or an input and output path');
  }
  let connected = true;
  const device = paths.device !== undefined;
  const writer = new FdWriter({ fd: writeFd, onDrain: () => handlers.onDrain(), onError: (e) => handlers.onFatal(e) });
  const reader = startPortReader(readSource, {
    onData: (chunk) => {
      // The host spoke: it is there, so writes cannot block for long (see FdWriter.sync).
      writer.sync = device;
      handlers.onData(chunk);
    },
    onEof: () => {
      writer.sync = false;
      if (!connected) return;
      connected = false;
      writer.discard();
      handlers.onDisconnect('the host closed the port');
    },
    onReconnect: (first) => {
      connected = true;
      writer.sync = device;
      handlers.onConnect();
      handlers.onData(first);
    },
    onError: (e) => handlers.onFatal(e),
  });
  // The Hello goes out at once; if the host is not there yet the kernel holds the write until it connects.
  queueMicrotask(() => handlers.onConnect());
  return {
    write: (bytes, written) => writer.write(bytes, written),
    close() {
      writer.close();
      reader.close();
      for (const fd of fds) {
        try {
          closeSync(fd);
        } catch {
          // already closed
        }
      }
    },
    get stats() {
      return { bytesIn: reader.bytesIn, bytesOut: writer.bytesOut, writes: writer.writes, reads: reader.reads };
    },
  };
}
