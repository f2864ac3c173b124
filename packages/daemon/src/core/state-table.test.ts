import { describe, expect, it } from 'vitest';
import { LodgeError, VmAction, VmState } from '@lodge/api';
import { assertAllowed, isAllowed } from './state-table.js';

describe('state table', () => {
  it.each([
    ['start', 'stopped', true],
    ['start', 'error', true],
    ['start', 'running', false],
    ['start', 'starting', false],
    ['stop', 'running', true],
    ['stop', 'paused', true],
    ['stop', 'stopped', false],
    ['pause', 'running', true],
    ['pause', 'paused', false],
    ['resume', 'paused', true],
    ['resume', 'running', false],
    ['restart', 'running', true],
    ['restart', 'stopped', false],
    ['delete', 'stopped', true],
    ['delete', 'running', false],
  ] as const)('%s in %s: %s', (action, state, allowed) => expect(isAllowed(action, state)).toBe(allowed));

  it('every action is allowed in some state and refused in another', () => {
    for (const action of VmAction.options) {
      const states = VmState.options.filter((s) => isAllowed(action, s));
      expect(states.length).toBeGreaterThan(0);
      expect(states.length).toBeLessThan(VmState.options.length);
    }
  });

  it('refuses with invalid_state, the state and a hint', () => {
    try {
      assertAllowed('delete', 'running', 'web');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(LodgeError);
      expect((err as LodgeError).code).toBe('invalid_state');
      expect((err as LodgeError).message).toBe('cannot delete VM "web": it is running');
      expect((err as LodgeError).hint).toBe('stop it first with: lodge stop web');
    }
  });
});
