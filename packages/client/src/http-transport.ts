import { request, type IncomingHttpHeaders, type RequestOptions } from 'node:http';
import { asApiError, LodgeError, type ApiError } from '@lodge/api/lite';

export interface RawResponse {
  status: number;
  body: Buffer;
  headers?: IncomingHttpHeaders;
}

/** An error as the wire carries it (HTTP body or WebSocket message), back into the LodgeError the caller sees. */
export function errorFromApi(e: ApiError): LodgeError {
  return new LodgeError(e.code, e.message, { hint: e.hint, details: e.details, cause: e.cause });
}

/** Turns an error body from the daemon back into a LodgeError; anything else becomes internal. */
export function errorFromBody(status: number, body: Buffer): LodgeError {
  try {
    const e = asApiError(JSON.parse(body.toString('utf8')));
    if (e) return errorFromApi(e);
  } catch {
    // not JSON: fall through
  }
  return new LodgeError('internal', `daemon answered HTTP ${status}: ${body.toString('utf8').slice(0, 200)}`);
}

// Plain HTTP: given no servername, Node's agent works one out (for TLS), and its first isIP compiles a regex (~10 ms).
const NO_SERVERNAME = { servername: '' } as RequestOptions;

export function unreachable(socketPath: string, err: NodeJS.ErrnoException): LodgeError {
  return new LodgeError('daemon_unreachable', `cannot reach lodged at ${socketPath}: ${err.code ?? err.message}`, {
    hint: 'start it with: lodge daemon (the CLI starts it on demand), or check LODGE_HOME',
    cause: err,
  });
}

/** One HTTP request over the daemon's unix socket. */
export function httpRequest(
  socketPath: string,
  opts: { method: string; path: string; body?: unknown; raw?: Buffer; signal?: AbortSignal; stream?: (chunk: Buffer) => void },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
    const type = opts.raw ? 'application/octet-stream' : 'application/json';
    const req = request({
      ...NO_SERVERNAME,
      socketPath,
      method: opts.method,
      path: opts.path,
      signal: opts.signal,
      headers: payload !== undefined ? { 'content-type': type, 'content-length': Buffer.byteLength(payload) } : {},
    });
    req.once('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') reject(err);
      else if (['ENOENT', 'ECONNREFUSED', 'ENOTSOCK'].includes(err.code ?? '')) reject(unreachable(socketPath, err));
      else reject(err);
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      const ok = (res.statusCode ?? 500) < 400;
      res.on('data', (c: Buffer) => (ok && opts.stream ? opts.stream(c) : chunks.push(c)));
      res.once('error', reject);
      res.once('end', () => resolve({ status: res.statusCode ?? 500, body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.end(payload);
  });
}
