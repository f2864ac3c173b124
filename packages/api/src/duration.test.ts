import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['90', 90], ['90s', 90], ['10m', 600], ['24h', 86_400], ['7d', 604_800], [' 1.5h ', 5400], [30, 30],
  ] as const)('%s → %d s', (text, seconds) => expect(parseDuration(text)).toBe(seconds));

  it.each(['', 'ten', '10 minutes', '-5m', '5w'])('refuses %j with a message', (text) => {
    expect(parseDuration(text)).toMatch(/is not a duration/);
  });
});
