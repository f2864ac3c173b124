/** The slice of pino the QGA link uses, so tests and callers can pass anything with these two methods. */
export interface QgaLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const silentLogger: QgaLogger = { debug: () => {}, warn: () => {} };
