import { type Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { UsageError } from './flag-values.js';
import { buildProgram, fromCommander } from './program.js';
import { Session } from './session.js';

/** A session that fails the test if a command reaches for the daemon. */
class OfflineSession extends Session {
  override connect(): never {
    throw new Error('connected to the daemon');
  }
}

const program = (): Command => buildProgram(new OfflineSession({}));
const run = (argv: string[]): Promise<unknown> => program().parseAsync(argv, { from: 'user' }).catch((err: unknown) => err);

describe('the command line', () => {
  it('rejects bad flags before any request', async () => {
    expect(await run(['create', 't1', '--cpus', 'x'])).toBeInstanceOf(UsageError);
    expect(await run(['create', 't1', '--disk', '4Q'])).toBeInstanceOf(UsageError);
    expect(await run(['stop', 't1', '--timeout', 'soon'])).toBeInstanceOf(UsageError);
  });

  it('turns commander failures into usage errors naming the command to get help for', async () => {
    const err = await run(['stop', 't1', '--bogus']);
    expect(err).toBeInstanceOf(CommanderError);
    const usage = fromCommander(err as CommanderError, { program: program(), argv: ['stop', 't1', '--bogus'] });
    expect(usage).toBeInstanceOf(UsageError);
    expect((usage as UsageError).message).toBe("unknown option '--bogus'");
    expect((usage as UsageError).hint).toBe('see: lodge stop --help');
  });

  it('points the hint at the deepest command named, not at an unknown word', async () => {
    const argv = ['image', 'bogus'];
    const usage = fromCommander((await run(argv)) as CommanderError, { program: program(), argv });
    expect((usage as UsageError).hint).toBe('see: lodge image --help');
    const nested = ['image', 'build', 'micro', '--fast'];
    expect((fromCommander((await run(nested)) as CommanderError, { program: program(), argv: nested }) as UsageError).hint).toBe('see: lodge image build --help');
  });

  it('lets --version through as success', async () => {
    const out = process.stdout.write;
    process.stdout.write = () => true;
    try {
      const err = await run(['--version']);
      expect(fromCommander(err as CommanderError, { program: program(), argv: ['--version'] })).toBe(0);
    } finally {
      process.stdout.write = out;
    }
  });
});
