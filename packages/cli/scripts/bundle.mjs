// Bundles the CLI (tsc's dist/main.js) into bundle/: resolving and compiling ~80 small ES modules per run was
// most of a `lodge cp`'s own CPU. Chunks are split at the CLI's dynamic imports, so each command loads only its own.
// Like tsc -b, it rebuilds only when an input is newer than the bundle (a rebuild under a running CLI could break it).
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(root, '../..');
// One level below packages/cli, like dist/: the code finds ../templates from its own folder.
const outdir = join(root, 'bundle');
const entry = join(outdir, 'lodge.js');
const inputsFile = join(outdir, 'inputs.json');
// What no command may load before it runs: the start-up chunks stay small (help, --version, usage errors).
const NOT_AT_START = /node_modules\/(ws|zod|yaml|cli-table3|ora)\/|packages\/(client|daemon)\//;
const key = (path) => relative(repo, path);
// Node built-ins that cost milliseconds to load and that only some commands use (lodge never speaks TLS).
const HEAVY_BUILTINS = /^(node:)?(child_process|https|tls)$/;

/**
 * Libraries that require such built-ins when loaded, for what lodge never does: ws for wss: URLs (https, tls), commander
 * for executable subcommands (child_process), ~13 ms of every command. There they become objects that load the module
 * on first use.
 */
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: HEAVY_BUILTINS }, (args) =>
      /node_modules\/(ws|commander)\//.test(args.importer) ? { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      // The id in a variable: esbuild leaves the require to run when first used.
      contents: `const id = 'node:${args.path}'; let m; module.exports = new Proxy({}, { get: (_, k) => (m ??= require(id))[k] });`,
      loader: 'js',
    }));
  },
};

/**
 * The client uses ws's WebSocket class alone: its index also loads the server and the stream adapter (~17 KB more to
 * compile, and node:http's server side). The class's own file, as `ws` would export it.
 */
const wsClientOnly = {
  name: 'ws-client-only',
  setup(b) {
    b.onResolve({ filter: /^ws$/ }, (args) => ({ path: 'ws', namespace: 'ws-client', pluginData: args.resolveDir }));
    b.onLoad({ filter: /.*/, namespace: 'ws-client' }, (args) => {
      // By path: ws's exports map lists no subpaths.
      const file = join(dirname(createRequire(join(args.pluginData, 'x.js')).resolve('ws/package.json')), 'lib/websocket.js');
      return { contents: `export { default as WebSocket } from ${JSON.stringify(file)};`, resolveDir: args.pluginData, loader: 'js' };
    });
  },
};

// Besides the sources: this script, and the lock files npm writes (npm gives packages' files their tarballs' old mtimes).
const ALSO = [key(fileURLToPath(import.meta.url)), 'package-lock.json', 'node_modules/.package-lock.json'];

/** Up to date: built from inputs none of which changed since (a new module shows as a change in its importer). */
function upToDate() {
  if (!existsSync(entry) || !existsSync(inputsFile)) return false;
  const built = statSync(entry).mtimeMs;
  const inputs = [...JSON.parse(readFileSync(inputsFile, 'utf8')), ...ALSO.filter((p) => existsSync(join(repo, p)))];
  return inputs.every((p) => existsSync(join(repo, p)) && statSync(join(repo, p)).mtimeMs <= built);
}

if (upToDate()) {
  console.log(`${key(entry)}: up to date`);
  process.exit(0);
}
rmSync(outdir, { recursive: true, force: true }); // chunk names carry hashes: old ones would pile up
const result = await build({
  entryPoints: { lodge: join(root, 'dist/main.js') },
  outdir,
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // CommonJS dependencies (ws, commander's helpers) require() Node's modules: an ES module has no require of its own.
  banner: { js: "import { createRequire as __lodgeCreateRequire } from 'node:module'; const require = __lodgeCreateRequire(import.meta.url);" },
  absWorkingDir: repo, // metafile paths are then repo-relative, wherever this runs from
  metafile: true,
  plugins: [lazyBuiltins, wsClientOnly],
  logLevel: 'warning',
});

const outputs = result.metafile.outputs;
/** The chunks an output loads with it (its static imports, transitively). */
const loadedWith = (first) => {
  const seen = new Set();
  const visit = (out) => {
    if (seen.has(out)) return;
    seen.add(out);
    for (const imp of outputs[out]?.imports ?? []) if (imp.kind === 'import-statement' && !imp.external) visit(imp.path);
  };
  visit(first);
  return seen;
};
const atStart = loadedWith(key(entry));
// What every command that talks to lodged loads (session.connect).
const starter = Object.keys(outputs).find((out) => outputs[out].entryPoint?.endsWith('packages/cli/dist/daemon-starter.js'));
if (!starter) throw new Error('bundle: no chunk for daemon-starter.js, which session.connect imports');
const heavy = (outs) => [...outs].flatMap((out) => outputs[out].imports).filter((imp) => imp.external && imp.kind !== 'dynamic-import' && HEAVY_BUILTINS.test(imp.path)).map((imp) => imp.path);
const early = [
  ...[...atStart].flatMap((out) => Object.keys(outputs[out].inputs)).filter((p) => NOT_AT_START.test(p)),
  ...heavy(new Set([...atStart, ...loadedWith(starter)])),
];
const daemon = Object.keys(result.metafile.inputs).filter((p) => p.includes('packages/daemon/'));
if (early.length > 0 || daemon.length > 0) {
  rmSync(outdir, { recursive: true, force: true });
  if (daemon.length > 0) throw new Error(`the CLI bundle must not contain daemon code: ${daemon.join(', ')}`);
  throw new Error(`${key(entry)} would load at start-up (or on connecting to lodged) what only some commands need: ${early.join(', ')}`);
}
chmodSync(entry, 0o755);
writeFileSync(inputsFile, JSON.stringify(Object.keys(result.metafile.inputs)));
const kib = (outs) => (outs.reduce((n, o) => n + outputs[o].bytes, 0) / 1024).toFixed(0);
console.log(`${key(entry)}: ${kib([...atStart])} KiB at start-up, ${kib(Object.keys(outputs))} KiB in ${Object.keys(outputs).length} files`);
