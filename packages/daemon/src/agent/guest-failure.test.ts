import { describe, expect, it } from 'vitest';
import { GuestProtocolError } from '@lodge/api/guest';
import { guestFailure } from './guest-failure.js';

describe('guestFailure', () => {
  it("keeps an exec's shell status (126, 127) in the details, for lodge exec's exit code", () => {
    const missing = guestFailure(new GuestProtocolError('not_found', 'nope: not found in the guest', 127), 'exec nope');
    expect(missing.toJSON()).toMatchObject({ code: 'not_found', message: 'nope: not found in the guest', details: { guestCode: 'not_found', shellStatus: 127 } });
    const denied = guestFailure(new GuestProtocolError('permission_denied', '/etc/passwd: permission denied in the guest', 126), 'exec');
    expect(denied.toJSON()).toMatchObject({ code: 'invalid_argument', details: { guestCode: 'permission_denied', shellStatus: 126 } });
  });

  it('adds no shell status to other guest errors, nor a value other than 126 or 127', () => {
    expect(guestFailure(new GuestProtocolError('not_found', 'cwd /x: no such folder in the guest'), 'exec').details).toEqual({ guestCode: 'not_found' });
    expect(guestFailure(Object.assign(new Error('x'), { code: 'not_found', shellStatus: 1 }), 'exec').details).toEqual({ guestCode: 'not_found' });
    expect(guestFailure(new Error('boom'), 'exec x').toJSON()).toMatchObject({ code: 'internal', message: 'exec x: boom', details: undefined });
  });
});
