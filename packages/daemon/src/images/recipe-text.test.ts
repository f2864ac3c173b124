import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinRecipes } from './builtin-recipes.js';
import { parseRecipeText } from './recipe-text.js';

describe('parseRecipeText', () => {
  it('fills the defaults: base debian-12, direct boot, no packages', () => {
    expect(parseRecipeText('name: tools\n', 'x.yaml')).toEqual({ name: 'tools', base: 'debian-12', packages: [], boot: 'direct' });
  });

  it('names the source and the field of a bad value or an unknown key', () => {
    expect(() => parseRecipeText('name: tools\npackages: [Bad_Name]\n', 'x.yaml')).toThrow(/^image recipe x.yaml is not valid: packages.0: a package is a Debian package name/);
    expect(() => parseRecipeText('name: tools\nimages: [a]\n', 'x.yaml')).toThrow('image recipe x.yaml is not valid: unknown field(s) "images"');
    expect(() => parseRecipeText('name: tools\nbase: ubuntu\n', 'x.yaml')).toThrow(/base: /);
  });

  it('says where YAML that does not parse came from', () => {
    expect(() => parseRecipeText('name: [tools\n', 'x.yaml')).toThrow(/^image recipe x.yaml is not valid YAML: /);
  });
});

describe('builtinRecipes', () => {
  it('ships debian-12-dev: build tools on debian-12, no desktop', () => {
    const dev = builtinRecipes().get('debian-12-dev');
    expect(dev).toMatchObject({ base: 'debian-12', boot: 'direct' });
    expect(dev?.packages).toEqual(expect.arrayContaining(['build-essential', 'gdb', 'git', 'pkg-config']));
    expect(dev?.packages.some((p) => /xorg|gnome|xfce|kde|x11/.test(p))).toBe(false);
  });

  it('refuses a recipe file whose name is not its file name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lodge-recipes-'));
    try {
      await writeFile(join(dir, 'one.yaml'), 'name: two\n');
      expect(() => builtinRecipes(dir)).toThrow('built-in recipe one.yaml is named "two"; its file must be two.yaml');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
