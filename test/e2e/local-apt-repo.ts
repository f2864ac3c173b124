import { execFile } from 'node:child_process';
import { createReadStream, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** QEMU user networking's address of the host, as the guest sees it. */
export const GUEST_HOST_ADDRESS = '10.0.2.2';

/** A package to publish: a script at /usr/bin/NAME, or the given files (guest path → text). */
export interface LocalPackage {
  name: string;
  version: string;
  /** Default: /usr/bin/<name> printing "<name> <version>". */
  files?: Record<string, { text: string; mode?: number }>;
  depends?: string;
  description?: string;
}

/** A flat apt repository on the host, served over HTTP; guests reach it at 10.0.2.2:port. */
export interface LocalAptRepo {
  /** Port on the host (all interfaces are not used: 127.0.0.1 only, which QEMU's 10.0.2.2 reaches). */
  port: number;
  /** The line for a guest's /etc/apt/sources.list (unsigned, hence trusted=yes). */
  sourcesLine: string;
  /** Builds the .deb with dpkg-deb and regenerates Packages and Release (older versions stay listed). */
  publish(pkg: LocalPackage): Promise<void>;
  /** Stops the server and removes the folder; safe to call twice. */
  close(): Promise<void>;
}

async function buildDeb(root: string, pkg: LocalPackage): Promise<void> {
  const tree = await mkdtemp(join(root, '.build-'));
  try {
    const files = pkg.files ?? { [`/usr/bin/${pkg.name}`]: { text: `#!/bin/sh\necho "${pkg.name} ${pkg.version}"\n`, mode: 0o755 } };
    for (const [path, f] of Object.entries(files)) {
      const dest = join(tree, path);
      await mkdir(join(dest, '..'), { recursive: true });
      await writeFile(dest, f.text);
      await chmod(dest, f.mode ?? 0o644);
    }
    await mkdir(join(tree, 'DEBIAN'));
    const control = [
      `Package: ${pkg.name}`, `Version: ${pkg.version}`, 'Architecture: all', 'Maintainer: Lodge tests <tests@lodge.invalid>',
      ...(pkg.depends ? [`Depends: ${pkg.depends}`] : []), `Description: ${pkg.description ?? `${pkg.name} for Lodge's tests`}`,
    ];
    await writeFile(join(tree, 'DEBIAN/control'), `${control.join('\n')}\n`);
    await run('dpkg-deb', ['--root-owner-group', '--build', tree, join(root, `${pkg.name}_${pkg.version}_all.deb`)]);
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}

/** Serves files under root (GET and HEAD only; no path leaves root). */
function serve(root: string): Server {
  return createServer((req, res) => {
    const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/'));
    const file = join(root, path);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || path.includes('..')) return void res.writeHead(400).end();
    stat(file).then(
      (s) => {
        if (!s.isFile()) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-length': s.size });
        if (req.method === 'HEAD') return void res.end();
        createReadStream(file).pipe(res);
      },
      () => void res.writeHead(404).end(),
    );
  });
}

/**
 * Starts an empty repository in a temp folder with its HTTP server on a free port. Also removed at process exit,
 * in case a failing test never reaches close().
 */
export async function startLocalAptRepo(): Promise<LocalAptRepo> {
  const root = await mkdtemp(join(tmpdir(), 'lodge-apt-'));
  const removeAtExit = (): void => rmSync(root, { recursive: true, force: true });
  process.once('exit', removeAtExit);
  const server = serve(root);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closed = false;
  return {
    port,
    sourcesLine: `deb [trusted=yes] http://${GUEST_HOST_ADDRESS}:${port}/ ./`,
    async publish(pkg) {
      await buildDeb(root, pkg);
      const { stdout: packages } = await run('apt-ftparchive', ['packages', '.'], { cwd: root });
      await writeFile(join(root, 'Packages'), packages);
      const { stdout: release } = await run('apt-ftparchive', ['release', '.'], { cwd: root });
      await writeFile(join(root, 'Release'), release);
    },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
      process.off('exit', removeAtExit);
    },
  };
}
