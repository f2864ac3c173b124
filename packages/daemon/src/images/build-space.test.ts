import { describe, expect, it } from 'vitest';
import { LodgeError } from '@lodge/api';
import { isNoSpace, noSpaceError } from './build-space.js';

describe('isNoSpace', () => {
  it('sees ENOSPC from fs calls and "No space left on device" from tools, also when wrapped', () => {
    expect(isNoSpace(Object.assign(new Error('write failed'), { code: 'ENOSPC' }))).toBe(true);
    expect(isNoSpace(new LodgeError('internal', 'mke2fs -q … failed: mke2fs: No space left on device while populating file system'))).toBe(true);
    expect(isNoSpace(new LodgeError('image_unavailable', 'x', { cause: Object.assign(new Error('y'), { code: 'ENOSPC' }) }))).toBe(true);
    expect(isNoSpace(new Error('exit 1'))).toBe(false);
    expect(isNoSpace('No space left on device')).toBe(false); // not an error object: never ours
  });
});

describe('noSpaceError', () => {
  it('says where, at which step, how much the build needs and how much is free', async () => {
    const err = await noSpaceError(new Error('ENOSPC'), { name: 'micro', imagesDir: '/tmp', step: 'building root disk', needBytes: 700 * 2 ** 20 });
    expect(err.code).toBe('insufficient_resources');
    expect(err.message).toMatch(/^no space left on device in \/tmp while building image "micro" \(at: building root disk\): the build needs about 700M free there, [\d.]+[KMGT]? is free now$/);
    expect(err.details).toMatchObject({ imagesDir: '/tmp', step: 'building root disk', needBytes: 700 * 2 ** 20 });
  });
});
