// lodge-guest: the guest's command line for the message bus and the agent (argv parsed by hand to stay lean).

import { spawn } from 'node:child_process';
import { MAX_MESSAGE_BYTES } from '@lodge/api/guest';
import { BusClient, type BusMessage } from './bus-client.js';
import { AGENT_VERSION } from './version.js';

const USAGE = `Usage: lodge-guest <command> [arguments]
Talk to the Lodge agent's message bus from inside the guest.

  send TOPIC [DATA]                publish DATA (or standard input) on TOPIC
  listen TOPIC [--count N] [--json]
                                   print each message's body and a newline (--json: {topic, replyTo, data} lines,
                                   data in base64); stop after N messages
  request TOPIC [DATA] [--timeout S]
                                   publish and print the first reply (default timeout 30 s)
  serve TOPIC [--count N] -- CMD [ARGS...]  for each message run CMD with the body on stdin and reply with its stdout
  info                             print what the agent knows about this guest, as JSON
  provision                        do the first-boot settings of the NoCloud seed (run by lodge-provision.service
                                   at every boot); progress in /run/lodge/provision.jsonl

Options: --socket PATH (default $LODGE_BUS_SOCKET or /run/lodge/bus.sock), --help, --version
Exit codes: 0 done, 1 failed (no agent, timeout, no subscriber, a provisioning step), 2 wrong usage.
`;

class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
  rest: string[];
}

const VALUED = new Set(['--count', '--timeout', '--socket']);

function parse(argv: string[]): Parsed {
  const out: Parsed = { positional: [], flags: new Map(), rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.rest = argv.slice(i + 1);
      break;
    }
    if (arg.startsWith('--') || arg === '-h') {
      const [name, inline] = arg.split('=', 2) as [string, string | undefined];
      if (VALUED.has(name)) {
        const value = inline ?? argv[++i];
        if (value === undefined) throw new UsageError(`${name} needs a value`);
        out.flags.set(name, value);
      } else if (['--json', '--help', '-h', '--version'].includes(name)) out.flags.set(name === '-h' ? '--help' : name, true);
      else throw new UsageError(`unknown option ${arg}`);
    } else out.positional.push(arg);
  }
  return out;
}

function positiveNumber(value: string | true | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${name} needs a positive number`);
  return n;
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_MESSAGE_BYTES) throw new Error(`a message holds at most ${MAX_MESSAGE_BYTES} bytes`);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

function write(data: Buffer | string): Promise<void> {
  return new Promise((resolve) => (process.stdout.write(data) ? resolve() : process.stdout.once('drain', resolve)));
}

/** Runs CMD with the body on stdin; resolves with its stdout (bounded like a message). */
function runFor(message: BusMessage, argv: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    const parts: Buffer[] = [];
    let size = 0;
    child.stdout?.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_MESSAGE_BYTES) parts.push(c);
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(message.data);
    child.on('error', (e) => reject(new Error(`${argv[0]}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code !== 0) process.stderr.write(`lodge-guest: ${argv[0]} exited with ${signal ?? code}\n`);
      if (size > MAX_MESSAGE_BYTES) process.stderr.write(`lodge-guest: reply cut to ${MAX_MESSAGE_BYTES} bytes\n`);
      resolve(Buffer.concat(parts));
    });
  });
}

async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.flags.has('--help')) return void process.stdout.write(USAGE), 0;
  if (args.flags.has('--version')) return void process.stdout.write(`${AGENT_VERSION}\n`), 0;
  const [command, topic, data] = args.positional;
  const socket = args.flags.get('--socket');
  const bus = new BusClient(typeof socket === 'string' ? socket : undefined);
  const needTopic = (): string => {
    if (!topic) throw new UsageError(`${command} needs a TOPIC`);
    return topic;
  };
  const body = async (): Promise<Buffer> => (data !== undefined ? Buffer.from(data) : readStdin());
  switch (command) {
    case 'send':
      await bus.publish(needTopic(), await body());
      return 0;
    case 'request': {
      const timeoutS = positiveNumber(args.flags.get('--timeout'), '--timeout') ?? 30;
      const reply = await bus.request(needTopic(), await body(), { timeoutMs: Math.round(timeoutS * 1000) });
      await write(reply.data.length > 0 && reply.data[reply.data.length - 1] !== 10 ? Buffer.concat([reply.data, Buffer.from('\n')]) : reply.data);
      return 0;
    }
    case 'listen': {
      const count = positiveNumber(args.flags.get('--count'), '--count');
      const json = args.flags.has('--json');
      let seen = 0;
      let stop: () => void = () => undefined;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const sub = await bus.subscribe(needTopic(), async (m) => {
        if (count !== undefined && seen >= count) return;
        seen++;
        if (json) await write(`${JSON.stringify({ topic: m.topic, replyTo: m.replyTo ?? null, data: m.data.toString('base64') })}\n`);
        else await write(Buffer.concat([m.data, Buffer.from('\n')]));
        if (count !== undefined && seen >= count) stop();
      });
      await Promise.race([stopped, sub.closed]);
      sub.close();
      return count !== undefined && seen < count ? 1 : 0;
    }
    case 'serve': {
      if (args.rest.length === 0) throw new UsageError('serve needs -- CMD [ARGS...]');
      const count = positiveNumber(args.flags.get('--count'), '--count');
      const t = needTopic();
      let served = 0;
      let stop: () => void = () => undefined;
      const enough = new Promise<void>((resolve) => (stop = resolve));
      // Replies are sent by hand (not bus.serve) so --count can stop only once the last reply is out.
      const sub = await bus.subscribe(t, async (m) => {
        if (count !== undefined && served >= count) return;
        const reply = await runFor(m, args.rest);
        if (m.replyTo) await bus.publish(m.replyTo, reply);
        if (count !== undefined && ++served >= count) stop();
      });
      await Promise.race([enough, sub.closed]);
      sub.close();
      if (count !== undefined && served >= count) return 0;
      process.stderr.write('lodge-guest: the agent closed the bus connection\n');
      return 1;
    }
    case 'provision': {
      // Loaded only here: the bus commands do not pay for the provisioner's code.
      const { provisionMain } = await import('./provision/provision-main.js');
      return provisionMain();
    }
    case 'info':
      await write(`${JSON.stringify(await bus.info(), null, 2)}\n`);
      return 0;
    case undefined:
      throw new UsageError('a command is needed');
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const usage = error instanceof UsageError;
    process.stderr.write(`lodge-guest: ${error instanceof Error ? error.message : String(error)}\n${usage ? 'Try lodge-guest --help\n' : ''}`);
    process.exitCode = usage ? 2 : 1;
  },
);
