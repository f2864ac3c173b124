import type { Command } from 'commander';
import type { Subscription } from '@lodge/client';
import { UsageError, wholeNumberFlag } from './flag-values.js';
import { messageBody } from './message-body.js';
import type { Session } from './session.js';
import { sinkTo } from './stream-sink.js';

const NL = Buffer.from('\n');
const DEFAULT_REQUEST_TIMEOUT_S = 10;

/** Checked before any request, so a typo never starts the daemon. */
export async function checkTopic(topic: string): Promise<string> {
  const { isTopic } = await import('@lodge/api/guest'); // on use: the CLI starts without the guest protocol
  if (!isTopic(topic)) {
    throw new UsageError(`topic "${topic}" is not valid`, 'a topic is a letter or digit, then up to 127 letters, digits or "_ . : / -"');
  }
  return topic;
}

/** Prints each message until --count is reached, Ctrl-C, or the daemon ends the subscription. */
async function listen(session: Session, vm: string, topic: string, count: number | undefined): Promise<void> {
  const client = await session.connect();
  const out = sinkTo(process.stdout);
  let seen = 0;
  let sub: Subscription | undefined;
  let stopping = false;
  const stop = (): void => {
    stopping = true;
    sub?.close();
  };
  sub = await client.subscribe(vm, topic, (msg, body) => {
    if (stopping) return;
    seen += 1;
    if (seen === count) stop();
    // One line each: the body and a newline, or with --json the message itself (body in base64).
    return out(session.json ? Buffer.from(`${JSON.stringify(msg)}\n`) : Buffer.concat([body, NL]));
  });
  if (stopping) sub.close(); // --count reached before subscribe() returned
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await sub.closed;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** send, request and listen: the VM's message bus, for scripts on both sides of it. */
export function registerBusCommands(program: Command, session: Session): void {
  program
    .command('send')
    .description("publish a message on a VM's bus (DATA, or stdin when piped)")
    .argument('<vm>', 'VM name')
    .argument('<topic>', 'topic, e.g. app/reload')
    .argument('[data]', 'message body; read from stdin when left out')
    .option('--json', 'print {"delivered": N} as JSON')
    .action(async (vm: string, topic: string, data: string | undefined) => {
      await checkTopic(topic);
      const body = await messageBody(data);
      const receipt = await (await session.connect()).publish(vm, topic, body);
      await session.emit(receipt, () => `delivered to ${receipt.delivered} subscriber${receipt.delivered === 1 ? '' : 's'}`);
    });

  program
    .command('request')
    .description("publish a message on a VM's bus and print the first reply (raw)")
    .argument('<vm>', 'VM name')
    .argument('<topic>', 'topic a guest program answers on')
    .argument('[data]', 'request body; read from stdin when left out')
    .option('--timeout <sec>', `seconds to wait for the reply (default ${DEFAULT_REQUEST_TIMEOUT_S})`)
    .action(async (vm: string, topic: string, data: string | undefined, flags: { timeout?: string }) => {
      const seconds = flags.timeout === undefined ? DEFAULT_REQUEST_TIMEOUT_S : wholeNumberFlag('--timeout', flags.timeout, { min: 1, max: 3600 });
      await checkTopic(topic);
      const body = await messageBody(data);
      const reply = await (await session.connect()).request(vm, topic, body, seconds * 1000);
      process.stdout.write(reply);
      // A terminal gets its prompt back on a new line; a pipe gets the reply byte for byte.
      if (process.stdout.isTTY && reply.length > 0 && reply.at(-1) !== 0x0a) process.stdout.write('\n');
    });

  program
    .command('listen')
    .description("print the messages published on a topic of a VM's bus, one per line, until Ctrl-C")
    .argument('<vm>', 'VM name')
    .argument('<topic>', 'topic to listen on')
    .option('-n, --count <n>', 'stop after this many messages')
    .option('--json', 'print each message as a JSON line {topic, replyTo?, data (base64)}')
    .action(async (vm: string, topic: string, flags: { count?: string }) => {
      await checkTopic(topic);
      const count = flags.count === undefined ? undefined : wholeNumberFlag('--count', flags.count, { min: 1 });
      return listen(session, vm, topic, count);
    });
}
