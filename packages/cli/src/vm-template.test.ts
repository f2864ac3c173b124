import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequestFrom } from './create-request.js';
import { UsageError } from './flag-values.js';
import { builtinTemplates, readTemplate } from './vm-template.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lodge-templates-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, text: string): Promise<string> {
  await writeFile(join(dir, name), text);
  return join(dir, name);
}
const refusal = (p: Promise<unknown>): Promise<UsageError> => p.then(() => { throw new Error('expected a UsageError'); }, (e: unknown) => e as UsageError);

describe('built-in templates', () => {
  it('ship micro, debian-12 and debian-12-desktop-less-dev, each a valid create request', async () => {
    expect(builtinTemplates()).toEqual(['debian-12', 'debian-12-desktop-less-dev', 'micro']);
    for (const name of builtinTemplates()) expect(createRequestFrom('t1', {}, { template: await readTemplate(name) }).image).toEqual(name === 'micro' ? 'micro' : expect.stringMatching(/^debian-12/));
    const dev = await readTemplate('debian-12-desktop-less-dev');
    expect(createRequestFrom('dev', {}, { template: dev })).toMatchObject({ name: 'dev', image: 'debian-12-dev', memory: '2GiB', disk: '20GiB' });
  });

  it('names the built-in ones when the name is none of them', async () => {
    const err = await refusal(readTemplate('debian-13'));
    expect(err.message).toBe('unknown template "debian-13"; built-in templates: debian-12, debian-12-desktop-less-dev, micro');
  });
});

describe('a template file', () => {
  it('gives the fields of a create request; flags override them', async () => {
    const t = await readTemplate(await file('dev.yaml', 'image: debian-12\ncpus: 2\nmemory: 2GiB\ndisk: 20GiB\nprovision:\n  - mode: user\n    script: echo hi\nuser:\n  name: me\n'));
    const req = createRequestFrom('dev', { cpus: '1', memory: '512M' }, { template: t });
    expect(req).toEqual({ name: 'dev', image: 'debian-12', cpus: 1, memory: 512 * 2 ** 20, disk: '20GiB', provision: [{ mode: 'user', script: 'echo hi' }], user: { name: 'me' } });
  });

  it("keeps the template's default user over the host user's, and --user over both", async () => {
    const host = { name: 'alice', home: dir };
    const t = await readTemplate(await file('user.yaml', 'image: debian-12\nuser:\n  name: me\n'));
    expect(createRequestFrom('dev', {}, { template: t, host }).user).toEqual({ name: 'me' });
    expect(createRequestFrom('dev', { user: 'bob' }, { template: t, host }).user).toEqual({ name: 'bob', sshKeys: [] });
    const plain = await readTemplate(await file('plain.yaml', 'image: debian-12\n'));
    expect(createRequestFrom('dev', {}, { template: plain, host }).user).toEqual({ name: 'alice', sshKeys: [] });
  });

  it('refuses an unknown key naming it and the file, with what to write instead for a Lima key', async () => {
    const images = await refusal(readTemplate(await file('lima.yaml', 'images:\n  - location: https://x/debian.qcow2\n')));
    expect(images.message).toBe(`template ${join(dir, 'lima.yaml')}: unknown key "images"`);
    expect(images.hint).toMatch(/^write image: NAME; Lodge images are built with lodge image build/);
    const typo = await refusal(readTemplate(await file('typo.yaml', 'memroy: 2GiB\n')));
    expect(typo.hint).toBe('did you mean memory?');
    const mode = await refusal(readTemplate(await file('mode.yaml', 'provision:\n  - mode: boot\n    script: x\n')));
    expect(mode.message).toContain('provision.0.mode "boot" is Lima\'s');
    expect(mode.hint).toBe('write mode: system and run: boot (runs at every boot)');
  });

  it('reports a bad value with the file and field, unless a flag overrides it', async () => {
    const t = await readTemplate(await file('bad.yaml', 'memory: lots\nprovision:\n  - script: ""\n'));
    const err = (() => { try { createRequestFrom('dev', {}, { template: t }); } catch (e) { return e as UsageError; } return undefined; })();
    expect(err?.message).toMatch(new RegExp(`^template ${join(dir, 'bad.yaml')}: memory: `));
    const t2 = await readTemplate(await file('bad2.yaml', 'memory: lots\n'));
    expect(createRequestFrom('dev', { memory: '1G' }, { template: t2 })).toMatchObject({ memory: 2 ** 30 });
  });

  it('says which file is missing or not YAML', async () => {
    expect((await refusal(readTemplate(join(dir, 'none.yaml')))).message).toBe(`cannot read template ${join(dir, 'none.yaml')}: no such file`);
    expect((await refusal(readTemplate(await file('broken.yaml', 'cpus: [1\n')))).message).toMatch(/is not valid YAML: /);
    expect((await refusal(readTemplate(await file('list.yaml', '- a\n')))).message).toMatch(/is not a mapping/);
  });
});
