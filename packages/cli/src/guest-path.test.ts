import { describe, expect, it } from 'vitest';
import { UsageError } from './flag-values.js';
import { copyPlan, guestPathOf } from './guest-path.js';

describe('VM:/path', () => {
  it('is a VM name, a colon and the rest; anything else is a host path', () => {
    expect(guestPathOf('web:/etc/hosts')).toEqual({ vm: 'web', path: '/etc/hosts' });
    expect(guestPathOf('web-2:/a:b')).toEqual({ vm: 'web-2', path: '/a:b' });
    expect(guestPathOf('./web:/x')).toBeUndefined();
    expect(guestPathOf('/tmp/a:b')).toBeUndefined();
    expect(guestPathOf('Web:/x')).toBeUndefined();
    expect(guestPathOf('plain')).toBeUndefined();
  });

  it('plans the direction from which side is in the VM', () => {
    expect(copyPlan('./app', 'web:/opt')).toEqual({ direction: 'to-guest', local: './app', guest: { vm: 'web', path: '/opt' } });
    expect(copyPlan('web:/var/log', '.')).toEqual({ direction: 'from-guest', guest: { vm: 'web', path: '/var/log' }, local: '.' });
  });

  it('wants exactly one side in a VM, with an absolute path', () => {
    expect(() => copyPlan('a', 'b')).toThrow(UsageError);
    expect(() => copyPlan('web:/a', 'db:/b')).toThrow(/both SRC and DST/);
    expect(() => copyPlan('web:etc/hosts', '.')).toThrow(/must be absolute/);
    const err = (() => {
      try {
        copyPlan('./f', 'web:');
      } catch (e) {
        return e as UsageError;
      }
    })();
    expect(err?.hint).toContain('web:/root');
  });
});
